#!/usr/bin/env node
// main.ts: the tug-agent program (see agent.ts and `tug-agent --help`).
import { run } from './agent.ts';

run(process.argv.slice(2));
