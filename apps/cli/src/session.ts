// session.ts: what a command of `tug` is given. cli.ts builds one Session per run; the command
// modules (*-commands.ts) take it and import nothing from cli.ts, so the program that wires
// them up is the only module that knows them all.
import type { Command } from 'commander';
import type { TugClient } from '@tugboat/client';
import type { Security } from '@tugboat/proto';

/** Io is everything `tug` touches outside itself, so tests can run it in-process too. */
export interface Io {
  /** stdout and stderr take text, and bytes as they are (the output of `tug exec`, logs). */
  readonly stdout: { write(s: string | Uint8Array): unknown };
  readonly stderr: { write(s: string | Uint8Array): unknown };
  /** readStdin reads all of standard input (for -f -). */
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homedir: string;
  /** now is the time in ms since the epoch (for AGE columns). */
  readonly now: () => number;
  /** signal ends a running `get -w` or `logs -f` (main.ts aborts it on SIGINT and SIGTERM). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Session is what the commands of one run share: the Io, the global flags of the command being
 * run, and the API client they pick. A command's action calls `use(cmd)` first; the other
 * methods read the flags it took, so they throw UsageError for a bad -n or -o.
 */
export interface Session {
  readonly io: Io;
  /** use takes the global flags (--endpoints, -n, -o, ...) of cmd, the command being run. */
  use(cmd: Command): this;
  /** client is the API client of the target the flags name, made on first use. */
  client(): TugClient;
  /** security is how to dial the cluster's members and agents: the target's certificates. */
  security(): Security;
  /** namespace is -n, else the context's namespace, else "default"; explicit when -n gave it. */
  namespace(): { namespace: string; explicit: boolean };
  /** output returns -o when it is one of `allowed` (undefined when not given). */
  output(allowed: readonly string[], command: string): string | undefined;
}
