/**
 * ControlCluster runs command-log Raft members (apps/control/src/raft-member: tug-control's
 * Raft layer with a command log as the state machine and the MemberService API, no object
 * store) as real processes on loopback, for the Raft-level integration tests and the Raft
 * benchmark (TugCluster, tug-cluster.ts, runs tug-control itself). It starts N members on
 * 127.0.0.x with free ports and temporary data dirs, waits until they are ready, finds the
 * leader, SIGKILLs and restarts members by PID.
 *
 * Cleanup: `stop()` ends only the processes this cluster started (by PID: SIGTERM, then SIGKILL
 * after `stopGraceMs`) and removes its temporary directory. Every live cluster is also stopped
 * (synchronously, with SIGKILL) when the process exits or gets SIGINT/SIGTERM, and each member
 * runs with TUG_EXIT_ON_STDIN_EOF=1 on a pipe from us, so it exits by itself even if this
 * process is SIGKILLed; the directory such a process leaves behind is removed by the next
 * `ControlCluster.start` (it checks that the owner recorded in it is gone). Tests should still
 * call `stop()` (e.g. `t.after(() => cluster.stop())`).
 *
 * Logs: each member's stderr (pino, one JSON line per event) goes to DIR/NAME.log, appended
 * across restarts; `logTail` returns the end of it for failure messages. With
 * TUG_KEEP_TEST_DIRS=1 the directory is kept and its path printed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemberClient } from '@tugboat/control';
import type { MemberClientOptions } from '@tugboat/control';
import type { MemberServiceStatusResponse } from '@tugboat/proto';

export { MemberClient, MemberClientError, isMemberClientError } from '@tugboat/control';
export type { MemberClientOptions, ProposeAnswer, LoggedCommand } from '@tugboat/control';

/** controlMainPath is the entry point the harness runs: the command-log Raft member (apps/control/src/raft-member). */
export const controlMainPath = fileURLToPath(new URL('./raft-member/main.ts', import.meta.resolve('@tugboat/control')));

export interface ControlClusterOptions {
  /** Number of members. Default 3. */
  readonly size?: number;
  /** Loopback address of each member, e.g. ['127.0.0.1', '127.0.0.2', '127.0.0.3']. Default all 127.0.0.1. */
  readonly hosts?: readonly string[];
  /** Member names. Default c1..cN. */
  readonly names?: readonly string[];
  /** --tick-ms. Default: tug-control's default. */
  readonly tickMs?: number;
  /** --election-ticks. Default: tug-control's default. */
  readonly electionTicks?: number;
  /** More flags for every member. */
  readonly extraArgs?: readonly string[];
  /** --log-level. Default 'info'. */
  readonly logLevel?: string;
  /** How long `start` and `restart` wait for readiness, ms. Default 20,000. */
  readonly readyTimeoutMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL, ms. Default 3,000. */
  readonly stopGraceMs?: number;
  /** Prefix of the temporary directory name. Default 'tug-cluster-'. */
  readonly dirPrefix?: string;
}

/** ControlMemberProcess is one member as the harness runs it. */
export interface ControlMemberProcess {
  readonly name: string;
  readonly host: string;
  readonly peerAddress: string;
  readonly apiAddress: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** PID of the running process, undefined while it is not running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Times it was started. */
  readonly starts: number;
}

interface MemberState {
  name: string;
  host: string;
  peerAddress: string;
  apiAddress: string;
  dataDir: string;
  logFile: string;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  starts: number;
  /** API address to --join through on the first start; '' for founding members. */
  joinVia: string;
}

export interface LeaderInfo {
  readonly name: string;
  readonly term: number;
  readonly apiAddress: string;
  /** performance.now() when it was first seen as leader by a majority. */
  readonly seenAtMs: number;
}

const live = new Set<ControlCluster>();
let hooksInstalled = false;

function onSignal(sig: NodeJS.Signals): void {
  for (const c of [...live]) c.killAllSync();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', exitHook);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function removeHooks(): void {
  if (!hooksInstalled || live.size > 0) return;
  hooksInstalled = false;
  process.off('exit', exitHook);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

function exitHook(): void {
  for (const c of [...live]) c.killAllSync();
}

/** processStartTicks identifies a process instance: its start time in clock ticks after boot (undefined if gone). */
function processStartTicks(pid: number): string | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const ownerFile = '.tug-harness-owner';

/**
 * sweepStale removes temporary cluster directories left behind by harness processes that were
 * SIGKILLed (their members exited on their own; only the directory was left). A directory is
 * removed only if it holds our owner file and the process named there no longer exists.
 */
function sweepStale(prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const n of names) {
    const dir = join(tmpdir(), n);
    try {
      const [pid, start] = readFileSync(join(dir, ownerFile), 'utf8').trim().split(' ');
      if (pid === undefined || start === undefined) continue;
      if (processStartTicks(Number(pid)) === start) continue; // its owner is alive
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or already gone
    }
  }
}

/** freePort finds a port that `host` can listen on now, outside the usual ephemeral range. */
async function freePort(host: string, taken: Set<string>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(`${host}:${port}`)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (ok) {
      taken.add(`${host}:${port}`);
      return port;
    }
  }
  throw new Error(`no free port found on ${host}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ControlCluster {
  /** The temporary directory holding every member's data dir and log. */
  readonly dir: string;
  private readonly opts: ControlClusterOptions;
  private readonly state: MemberState[];
  private readonly clients = new Set<MemberClient>();
  private readonly probe: MemberClient;
  private stopped = false;

  private constructor(dir: string, opts: ControlClusterOptions, state: MemberState[]) {
    this.dir = dir;
    this.opts = opts;
    this.state = state;
    this.probe = new MemberClient({ endpoints: state.map((m) => m.apiAddress), attemptTimeoutMs: 1_000 });
  }

  /**
   * start launches the members with a fresh `--initial-cluster` and waits until every member
   * answers Status and a leader is elected. On failure everything started is cleaned up.
   */
  static async start(opts: ControlClusterOptions = {}): Promise<ControlCluster> {
    const size = opts.size ?? 3;
    if (!(Number.isSafeInteger(size) && size >= 1 && size <= 9)) throw new RangeError(`ControlCluster: size must be 1 to 9, got ${size}`);
    const hosts = opts.hosts ?? Array.from({ length: size }, () => '127.0.0.1');
    if (hosts.length !== size) throw new RangeError(`ControlCluster: ${hosts.length} hosts for ${size} members`);
    for (const h of hosts) if (!h.startsWith('127.')) throw new RangeError(`ControlCluster: ${h} is not a loopback address`);
    const names = opts.names ?? Array.from({ length: size }, (_, i) => `c${i + 1}`);
    const prefix = opts.dirPrefix ?? 'tug-cluster-';
    sweepStale(prefix);
    const dir = mkdtempSync(join(tmpdir(), prefix));
    writeFileSync(join(dir, ownerFile), `${process.pid} ${processStartTicks(process.pid) ?? '0'}\n`);
    const taken = new Set<string>();
    const state: MemberState[] = [];
    for (let i = 0; i < size; i++) {
      const host = hosts[i]!;
      const name = names[i]!;
      state.push({
        name,
        host,
        peerAddress: `${host}:${await freePort(host, taken)}`,
        apiAddress: `${host}:${await freePort(host, taken)}`,
        dataDir: join(dir, name),
        logFile: join(dir, `${name}.log`),
        child: undefined,
        exited: Promise.resolve(),
        starts: 0,
        joinVia: '',
      });
    }
    const cluster = new ControlCluster(dir, opts, state);
    live.add(cluster);
    installHooks();
    try {
      for (const m of state) cluster.spawnMember(m, true);
      await Promise.all(state.map((m) => cluster.waitServing(m)));
      await cluster.waitForLeader();
    } catch (err) {
      const tails = state.map((m) => `--- ${m.name} (${m.logFile})\n${cluster.logTail(m.name, 15)}`).join('\n');
      await cluster.stop();
      throw new Error(`ControlCluster.start failed: ${(err as Error).message}\n${tails}`, { cause: err });
    }
    return cluster;
  }

  /** members describes every member (running or not). */
  get members(): ControlMemberProcess[] {
    return this.state.map((m) => this.describe(m));
  }

  member(name: string): ControlMemberProcess {
    return this.describe(this.find(name));
  }

  /** endpoints are the API addresses of all members. */
  endpoints(): string[] {
    return this.state.map((m) => m.apiAddress);
  }

  /** client returns a MemberClient over all members; it is closed by `stop`. */
  client(opts: Partial<MemberClientOptions> = {}): MemberClient {
    const c = new MemberClient({ endpoints: this.endpoints(), ...opts });
    this.clients.add(c);
    return c;
  }

  /** status asks one member for its Status (no retries). */
  async status(name: string, timeoutMs = 1_000): Promise<MemberServiceStatusResponse> {
    return this.probe.status(this.find(name).apiAddress, timeoutMs);
  }

  /** statuses asks every running member; a member that does not answer maps to its error. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, MemberServiceStatusResponse | Error>> {
    const out = new Map<string, MemberServiceStatusResponse | Error>();
    await Promise.all(
      this.state.map(async (m) => {
        if (m.child === undefined) {
          out.set(m.name, new Error(`${m.name} is not running`));
          return;
        }
        try {
          out.set(m.name, await this.probe.status(m.apiAddress, timeoutMs));
        } catch (err) {
          out.set(m.name, err as Error);
        }
      }),
    );
    return new Map(this.state.map((m) => [m.name, out.get(m.name)!]));
  }

  /**
   * waitForLeader polls until a running member leads and a majority of all members agree on it
   * and its term; `exclude` skips a leader (e.g. one just killed), `minTerm` older terms.
   */
  async waitForLeader(opts: { timeoutMs?: number; exclude?: string; minTerm?: number; pollMs?: number } = {}): Promise<LeaderInfo> {
    const timeoutMs = opts.timeoutMs ?? this.opts.readyTimeoutMs ?? 20_000;
    const giveUp = performance.now() + timeoutMs;
    const majority = Math.floor(this.state.length / 2) + 1;
    let last = '';
    while (performance.now() < giveUp) {
      this.assertLive();
      const sts = await this.statuses(500);
      const votes = new Map<string, number>();
      for (const s of sts.values()) {
        if (s instanceof Error || s.leader === '') continue;
        const key = `${s.leader}@${s.term}`;
        votes.set(key, (votes.get(key) ?? 0) + 1);
      }
      for (const s of sts.values()) {
        if (s instanceof Error || s.role !== 'leader' || s.name === opts.exclude) continue;
        if (Number(s.term) < (opts.minTerm ?? 0)) continue;
        if ((votes.get(`${s.name}@${s.term}`) ?? 0) >= majority) {
          return { name: s.name, term: Number(s.term), apiAddress: s.apiAddress, seenAtMs: performance.now() };
        }
      }
      last = [...sts].map(([n, s]) => (s instanceof Error ? `${n}: ${s.message.split('\n')[0]}` : `${n}: ${s.role} t${s.term} leader=${s.leader || '-'}`)).join('; ');
      await sleep(opts.pollMs ?? 20);
    }
    throw new Error(`no leader agreed by a majority within ${timeoutMs} ms (last seen: ${last})`);
  }

  /** leader returns the current leader (waiting for one if an election is under way). */
  async leader(timeoutMs?: number): Promise<LeaderInfo> {
    return this.waitForLeader(timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** kill SIGKILLs a member by its PID and waits until it has exited. */
  async kill(name: string): Promise<void> {
    const m = this.find(name);
    const child = m.child;
    if (child === undefined) throw new Error(`kill: ${name} is not running`);
    child.kill('SIGKILL');
    await m.exited;
  }

  /** terminate SIGTERMs a member by its PID (graceful shutdown) and waits until it has exited. */
  async terminate(name: string): Promise<number | null> {
    const m = this.find(name);
    const child = m.child;
    if (child === undefined) throw new Error(`terminate: ${name} is not running`);
    child.kill('SIGTERM');
    await m.exited;
    return child.exitCode;
  }

  /**
   * join starts a new member that joins the running cluster with `--join` (through `via`, an
   * API address; default the first running member's) and waits until it answers Status.
   */
  async join(name: string, opts: { host?: string; via?: string } = {}): Promise<ControlMemberProcess> {
    this.assertLive();
    if (this.state.some((s) => s.name === name)) throw new Error(`join: ${name} already exists`);
    const host = opts.host ?? '127.0.0.1';
    if (!host.startsWith('127.')) throw new RangeError(`join: ${host} is not a loopback address`);
    const via = opts.via ?? this.state.find((s) => s.child !== undefined)?.apiAddress;
    if (via === undefined) throw new Error('join: no running member to join through');
    const taken = new Set(this.state.flatMap((s) => [s.peerAddress, s.apiAddress]));
    const m: MemberState = {
      name,
      host,
      peerAddress: `${host}:${await freePort(host, taken)}`,
      apiAddress: `${host}:${await freePort(host, taken)}`,
      dataDir: join(this.dir, name),
      logFile: join(this.dir, `${name}.log`),
      child: undefined,
      exited: Promise.resolve(),
      starts: 0,
      joinVia: via,
    };
    this.state.push(m);
    this.spawnMember(m, false);
    await this.waitServing(m);
    return this.describe(m);
  }

  /** restart starts a stopped member again on the same data dir and ports and waits until it answers Status. */
  async restart(name: string): Promise<void> {
    const m = this.find(name);
    if (m.child !== undefined) throw new Error(`restart: ${name} is still running (pid ${m.child.pid})`);
    this.spawnMember(m, false);
    await this.waitServing(m);
  }

  /** waitApplied waits until member `name` has applied at least `index`. */
  async waitApplied(name: string, index: number, timeoutMs = 20_000): Promise<MemberServiceStatusResponse> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      try {
        const s = await this.status(name, 500);
        if (Number(s.applied) >= index) return s;
        last = `applied ${s.applied}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`${name} did not apply index ${index} within ${timeoutMs} ms (${last})`);
  }

  /** logTail returns the last `lines` lines of a member's log. */
  logTail(name: string, lines = 30): string {
    try {
      const text = readFileSync(this.find(name).logFile, 'utf8').trimEnd().split('\n');
      return text.slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /**
   * stop ends every member process this cluster started (SIGTERM by PID, SIGKILL after the
   * grace period), closes its clients and removes its directory. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients) c.close();
    this.probe.close();
    const grace = this.opts.stopGraceMs ?? 3_000;
    await Promise.all(
      this.state.map(async (m) => {
        const child = m.child;
        if (child === undefined) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), grace);
        await m.exited;
        clearTimeout(t);
      }),
    );
    live.delete(this);
    removeHooks();
    this.removeDir();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** killAllSync SIGKILLs every running member and removes the directory, synchronously (exit hooks). */
  killAllSync(): void {
    for (const m of this.state) {
      const pid = m.child?.pid;
      if (pid === undefined || m.child?.exitCode !== null || m.child.signalCode !== null) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.stopped = true;
    live.delete(this);
    this.removeDir();
  }

  // -------------------------------------------------------------------------------------------

  private removeDir(): void {
    if (process.env['TUG_KEEP_TEST_DIRS'] === '1') {
      process.stderr.write(`ControlCluster: kept ${this.dir}\n`);
      return;
    }
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }

  private assertLive(): void {
    if (this.stopped) throw new Error('ControlCluster is stopped');
  }

  private find(name: string): MemberState {
    const m = this.state.find((s) => s.name === name);
    if (m === undefined) throw new Error(`no member named ${name} (members: ${this.state.map((s) => s.name).join(', ')})`);
    return m;
  }

  private describe(m: MemberState): ControlMemberProcess {
    return {
      name: m.name,
      host: m.host,
      peerAddress: m.peerAddress,
      apiAddress: m.apiAddress,
      dataDir: m.dataDir,
      logFile: m.logFile,
      pid: m.child?.pid,
      running: m.child !== undefined,
      starts: m.starts,
    };
  }

  private spawnMember(m: MemberState, first: boolean): void {
    this.assertLive();
    const args = [
      controlMainPath,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-peer', m.peerAddress,
      '--listen-api', m.apiAddress,
      '--log-level', this.opts.logLevel ?? 'info',
    ];
    if (first) args.push('--initial-cluster', this.state.map((s) => `${s.name}=${s.peerAddress}`).join(','));
    else if (m.joinVia !== '' && m.starts === 0) args.push('--join', m.joinVia);
    if (this.opts.tickMs !== undefined) args.push('--tick-ms', String(this.opts.tickMs));
    if (this.opts.electionTicks !== undefined) args.push('--election-ticks', String(this.opts.electionTicks));
    args.push(...(this.opts.extraArgs ?? []));
    const logFd = openSync(m.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, {
        stdio: ['pipe', 'ignore', logFd],
        env: { ...process.env, TUG_EXIT_ON_STDIN_EOF: '1' },
      });
    } finally {
      closeSync(logFd);
    }
    m.child = child;
    m.starts++;
    // The pipe must not keep our event loop alive, and its errors (member gone) are expected.
    child.stdin?.on('error', () => undefined);
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    m.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (m.child === child) m.child = undefined;
        resolve();
      });
      child.once('error', () => {
        if (m.child === child) m.child = undefined;
        resolve();
      });
    });
  }

  /** waitServing waits until the member answers Status; fails early if it exits. */
  private async waitServing(m: MemberState): Promise<void> {
    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      const child = m.child;
      if (child === undefined) throw new Error(`${m.name} exited during startup:\n${this.logTail(m.name, 10)}`);
      try {
        await this.probe.status(m.apiAddress, 500);
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(25);
    }
    throw new Error(`${m.name} did not answer Status within ${timeoutMs} ms (${last})`);
  }
}
