// captured.ts: run `tug` in this process with its output captured (for tests and the demo).
import { run } from './cli.ts';
import type { Io } from './session.ts';

/** CapturedRun is the exit code of one in-process `tug` run and what it wrote. */
export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CaptureOptions {
  /** env is tug's environment; {} by default, so nothing of this process's TUG_* leaks in. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** homedir is where tug looks for its config; by default a path that does not exist. */
  homedir?: string | undefined;
  /** now is the time in ms since the epoch (Date.now by default). */
  now?: (() => number) | undefined;
  /** signal ends a running `get -w` or `logs -f`. */
  signal?: AbortSignal | undefined;
  /** onStdout is called after each write to stdout with all of stdout so far. */
  onStdout?: ((all: string) => void) | undefined;
  /** onOutput is called with each piece written to stdout or stderr, in the order written. */
  onOutput?: ((text: string, stream: 'stdout' | 'stderr') => void) | undefined;
  /** readStdin reads standard input (for -f -); empty by default. */
  readStdin?: (() => Promise<string>) | undefined;
}

/** runCaptured runs `tug args` in this process and returns its exit code and output, bytes
 *  decoded as UTF-8. */
export async function runCaptured(args: readonly string[], opts: CaptureOptions = {}): Promise<CapturedRun> {
  const out = { stdout: '', stderr: '' };
  const decoders = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };
  const sink = (stream: 'stdout' | 'stderr') => ({
    write: (s: string | Uint8Array): boolean => {
      // A multi-byte character may be split over two writes of bytes: the decoder streams.
      const text = typeof s === 'string' ? decoders[stream].decode() + s : decoders[stream].decode(s, { stream: true });
      out[stream] += text;
      if (text !== '') opts.onOutput?.(text, stream);
      if (stream === 'stdout') opts.onStdout?.(out.stdout);
      return true;
    },
  });
  const io: Io = {
    stdout: sink('stdout'),
    stderr: sink('stderr'),
    readStdin: opts.readStdin ?? (() => Promise.resolve('')),
    env: opts.env ?? {},
    homedir: opts.homedir ?? '/nonexistent',
    now: opts.now ?? (() => Date.now()),
    signal: opts.signal,
  };
  const code = await run(args, io);
  for (const stream of ['stdout', 'stderr'] as const) {
    const rest = decoders[stream].decode();
    out[stream] += rest;
    if (rest !== '') opts.onOutput?.(rest, stream);
  }
  return { code, stdout: out.stdout, stderr: out.stderr };
}
