#!/usr/bin/env node
// main.ts: the `tug` program. See `tug --help`; cli.ts has the commands.
import module from 'node:module';
import { homedir } from 'node:os';

// Cache compiled modules (Node's compile cache, under the OS temp dir): it halves start-up.
module.enableCompileCache?.();
const { run } = await import('./cli.ts');

const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
// A closed pipe (`tug get pods | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  readStdin,
  env: process.env,
  homedir: homedir(),
  now: () => Date.now(),
  signal: stop.signal,
});
