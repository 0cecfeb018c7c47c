#!/usr/bin/env node
// main.ts: the tug-control program (see serve.ts and `tug-control --help`).
import { run } from './serve.ts';

run(process.argv.slice(2));
