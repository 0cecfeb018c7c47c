/**
 * The commands the service proxy runs: `iptables-save`, `iptables-restore --noflush` and
 * `conntrack -D`, in the agent's network namespace, or in another one when a prefix such as
 * `nsenter --net=/run/netns/X` is given (tests).
 */
import { spawn } from 'node:child_process';

/** ProxyCommands is what the proxy needs of the host; tests may record or fake it. */
export interface ProxyCommands {
  /** save returns `iptables-save` output (every table; the proxy reads nat and filter). */
  save(): Promise<string>;
  /** restore applies restore input with `iptables-restore --noflush` (one atomic transaction per table). */
  restore(input: string): Promise<void>;
  /** deleteUdpFlows runs `conntrack -D -p udp ARGS`; no matching flow is no error. */
  deleteUdpFlows(args: readonly string[]): Promise<void>;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCommand(argv: readonly string[], input: string | undefined, timeoutMs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) return reject(new Error('no command given'));
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new Error(`${argv.join(' ')}: ${e.message}`, { cause: e })));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => undefined); // a command that exits early closes its stdin; its status says why
    child.stdin.end(input ?? '');
  });
}

function failure(argv: readonly string[], r: Result): Error {
  const why = r.stderr.trim().split('\n').slice(0, 3).join('; ') || `exit status ${r.code}`;
  return new Error(`${argv.join(' ')} failed: ${why}`);
}

/** hostCommands runs the real commands, each argv prefixed with `prefix` (default none: this network namespace). */
export function hostCommands(prefix: readonly string[] = [], timeoutMs = 60_000): ProxyCommands {
  const exec = async (argv: readonly string[], input?: string): Promise<string> => {
    const full = [...prefix, ...argv];
    const r = await runCommand(full, input, timeoutMs);
    if (r.code !== 0) throw failure(full, r);
    return r.stdout;
  };
  return {
    save: () => exec(['iptables-save']),
    restore: async (input) => {
      await exec(['iptables-restore', '--noflush', '--wait', '5'], input);
    },
    deleteUdpFlows: async (args) => {
      const full = [...prefix, 'conntrack', '-D', '-p', 'udp', ...args];
      const r = await runCommand(full, undefined, timeoutMs);
      // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) throw failure(full, r);
    },
  };
}
