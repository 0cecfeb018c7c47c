/**
 * TugCluster runs tug-control members (the API server, apps/control) as real processes on
 * loopback, for integration tests, the demo and benchmarks: N members on 127.0.0.x with free
 * ports and temporary data dirs; waits until every member is ready (ClusterService.Health);
 * finds the leader; SIGKILLs, SIGTERMs and restarts members by PID; adds members with --join
 * and removes them; runs the `tug` CLI against the cluster; and compares the object set of
 * every member (`sameObjects`).
 *
 * Cleanup: `stop()` ends only the processes this cluster started (by PID: SIGTERM, then
 * SIGKILL after `stopGraceMs`) and removes its temporary directory. Every live cluster is also
 * killed (synchronously, SIGKILL) when this process exits or gets SIGINT/SIGTERM, and each
 * member runs with TUG_EXIT_ON_STDIN_EOF=1 on a pipe from us, so it exits by itself even if this
 * process is SIGKILLed; the directory such a process leaves behind is removed by the next
 * `TugCluster.start` with the same prefix (it checks that the owner recorded in it is gone).
 *
 * Logs: each member's stderr (pino, one JSON line per event) goes to DIR/NAME.log, appended
 * across restarts; `logTail` returns the end of it. With TUG_KEEP_TEST_DIRS=1 the directory is
 * kept and its path printed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import type { MemberInfo, TugClientOptions } from '@tugboat/client';
import { canonicalJson } from '@tugboat/store';

/** tugControlMainPath is the tug-control entry point the harness runs. */
export const tugControlMainPath = fileURLToPath(new URL('./main.ts', import.meta.resolve('@tugboat/control')));
/** tugCliMainPath is the `tug` CLI entry point. */
export const tugCliMainPath = fileURLToPath(new URL('./main.ts', import.meta.resolve('@tugboat/cli')));

export interface TugClusterOptions {
  /** Number of members. Default 3. */
  readonly size?: number;
  /** Loopback address of each member. Default 127.0.0.1, 127.0.0.2, ... */
  readonly hosts?: readonly string[];
  /** Member names. Default c1..cN. */
  readonly names?: readonly string[];
  /** --tick-ms. Default: tug-control's. */
  readonly tickMs?: number;
  /** --election-ticks. Default: tug-control's. */
  readonly electionTicks?: number;
  /** --snapshot-entries. Default: tug-control's. */
  readonly snapshotEntries?: number;
  /** More flags for every member. */
  readonly extraArgs?: readonly string[];
  /** --log-level. Default 'info'. */
  readonly logLevel?: string;
  /** How long `start`, `restart` and `join` wait for readiness, ms. Default 20,000. */
  readonly readyTimeoutMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL, ms. Default 5,000. */
  readonly stopGraceMs?: number;
  /** Prefix of the temporary directory name. Default 'tug-api-cluster-'. */
  readonly dirPrefix?: string;
}

/** TugMemberProcess is one member as the harness runs it. */
export interface TugMemberProcess {
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

/** TugLeader is the leader as a majority of the members see it. */
export interface TugLeader {
  readonly name: string;
  readonly term: number;
  readonly apiAddress: string;
  /** performance.now() when it was first seen as leader by a majority. */
  readonly seenAtMs: number;
}

/** CliResult is what one run of `tug` did. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
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
  /** Removed from the cluster: no longer counted. */
  removed: boolean;
  /** tug-control's flags at the last start. */
  args: string[];
}

const live = new Set<TugCluster>();
let hooksInstalled = false;

function onSignal(sig: NodeJS.Signals): void {
  for (const c of [...live]) c.killAllSync();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function exitHook(): void {
  for (const c of [...live]) c.killAllSync();
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

/** sweepStale removes directories of ours whose owner process is gone (it was SIGKILLed). */
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
      if (processStartTicks(Number(pid)) === start) continue;
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

/** objectSetHash is the hex SHA-256 of every object of every served kind, in list order, as canonical JSON. */
export function objectSetHash(lists: readonly (readonly unknown[])[]): string {
  const h = createHash('sha256');
  for (const items of lists) {
    for (const o of items) {
      h.update(canonicalJson(o));
      h.update('\n');
    }
  }
  return h.digest('hex');
}

export class TugCluster {
  /** The temporary directory holding every member's data dir and log. */
  readonly dir: string;
  private readonly opts: TugClusterOptions;
  private readonly state: MemberState[];
  private readonly clients = new Set<TugClient>();
  private readonly probes = new Map<string, TugClient>();
  private stopped = false;

  private constructor(dir: string, opts: TugClusterOptions, state: MemberState[]) {
    this.dir = dir;
    this.opts = opts;
    this.state = state;
  }

  /** start launches the members with a fresh --initial-cluster and waits until each is ready. On failure everything started is cleaned up. */
  static async start(opts: TugClusterOptions = {}): Promise<TugCluster> {
    const size = opts.size ?? 3;
    if (!(Number.isSafeInteger(size) && size >= 1 && size <= 9)) throw new RangeError(`TugCluster: size must be 1 to 9, got ${size}`);
    const hosts = opts.hosts ?? Array.from({ length: size }, (_, i) => `127.0.0.${i + 1}`);
    if (hosts.length !== size) throw new RangeError(`TugCluster: ${hosts.length} hosts for ${size} members`);
    for (const h of hosts) if (!h.startsWith('127.')) throw new RangeError(`TugCluster: ${h} is not a loopback address`);
    const names = opts.names ?? Array.from({ length: size }, (_, i) => `c${i + 1}`);
    const prefix = opts.dirPrefix ?? 'tug-api-cluster-';
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
        removed: false,
        args: [],
      });
    }
    const cluster = new TugCluster(dir, opts, state);
    live.add(cluster);
    installHooks();
    try {
      for (const m of state) cluster.spawnMember(m, true);
      await Promise.all(state.map((m) => cluster.waitReady(m.name)));
    } catch (err) {
      const tails = state.map((m) => `--- ${m.name} (${m.logFile})\n${cluster.logTail(m.name, 15)}`).join('\n');
      await cluster.stop();
      throw new Error(`TugCluster.start failed: ${(err as Error).message}\n${tails}`, { cause: err });
    }
    return cluster;
  }

  /** members describes every member that was not removed (running or not). */
  get members(): TugMemberProcess[] {
    return this.state.filter((m) => !m.removed).map((m) => this.describe(m));
  }

  member(name: string): TugMemberProcess {
    return this.describe(this.find(name));
  }

  /** endpoints are the API addresses of the members (not removed ones). */
  endpoints(): string[] {
    return this.state.filter((m) => !m.removed).map((m) => m.apiAddress);
  }

  /** client returns a TugClient over all members (or the given endpoints); closed by `stop`. */
  client(opts: Partial<TugClientOptions> = {}): TugClient {
    const c = new TugClient({ endpoints: this.endpoints(), ...opts });
    this.clients.add(c);
    return c;
  }

  /** clientOf returns a TugClient that talks to one member only (no failover); closed by `stop`. */
  clientOf(name: string, opts: Partial<TugClientOptions> = {}): TugClient {
    return this.client({ retryBudgetMs: 5_000, ...opts, endpoints: [this.find(name).apiAddress] });
  }

  /** memberStatus asks one member for its own state (no retries beyond `timeoutMs`). */
  async memberStatus(name: string, timeoutMs = 1_000): Promise<MemberInfo> {
    const r = await this.probe(name).cluster.memberStatus({ timeoutMs });
    if (r.member === undefined) throw new Error(`${name} answered MemberStatus without a member`);
    return r.member;
  }

  /** statuses asks every running member for its own state; a member that does not answer maps to its error. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, MemberInfo | Error>> {
    const out = new Map<string, MemberInfo | Error>();
    await Promise.all(
      this.state
        .filter((m) => !m.removed)
        .map(async (m) => {
          if (m.child === undefined) {
            out.set(m.name, new Error(`${m.name} is not running`));
            return;
          }
          try {
            out.set(m.name, await this.memberStatus(m.name, timeoutMs));
          } catch (err) {
            out.set(m.name, err as Error);
          }
        }),
    );
    return out;
  }

  /**
   * waitForLeader polls until a running member leads and a majority of the members agree on it
   * and its term; `exclude` skips a leader (one just killed), `minTerm` older terms.
   */
  async waitForLeader(opts: { timeoutMs?: number; exclude?: string; minTerm?: number; pollMs?: number } = {}): Promise<TugLeader> {
    const timeoutMs = opts.timeoutMs ?? this.opts.readyTimeoutMs ?? 20_000;
    const giveUp = performance.now() + timeoutMs;
    const majority = Math.floor(this.members.length / 2) + 1;
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
        if (s.term < (opts.minTerm ?? 0)) continue;
        if ((votes.get(`${s.name}@${s.term}`) ?? 0) >= majority) {
          return { name: s.name, term: s.term, apiAddress: s.apiAddress, seenAtMs: performance.now() };
        }
      }
      last = [...sts].map(([n, s]) => (s instanceof Error ? `${n}: ${s.message.split('\n')[0]}` : `${n}: ${s.role} t${s.term} leader=${s.leader || '-'}`)).join('; ');
      await sleep(opts.pollMs ?? 20);
    }
    throw new Error(`no leader agreed by a majority within ${timeoutMs} ms (last seen: ${last})`);
  }

  /** leader returns the current leader (waiting for one if an election is under way). */
  async leader(timeoutMs?: number): Promise<TugLeader> {
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

  /** terminate SIGTERMs a member by its PID (graceful shutdown), waits until it has exited, and returns its exit code. */
  async terminate(name: string): Promise<number | null> {
    const m = this.find(name);
    const child = m.child;
    if (child === undefined) throw new Error(`terminate: ${name} is not running`);
    child.kill('SIGTERM');
    await m.exited;
    return child.exitCode;
  }

  /** restart starts a stopped member again on the same data dir and ports and waits until it is ready. */
  async restart(name: string): Promise<void> {
    const m = this.find(name);
    if (m.child !== undefined) throw new Error(`restart: ${name} is still running (pid ${m.child.pid})`);
    this.spawnMember(m, false);
    await this.waitReady(name);
  }

  /** join starts a new member with --join (through `via`, default the first running member's API) and waits until it is ready. */
  async join(name: string, opts: { host?: string; via?: string } = {}): Promise<TugMemberProcess> {
    this.assertLive();
    if (this.state.some((s) => s.name === name)) throw new Error(`join: ${name} already exists`);
    const host = opts.host ?? '127.0.0.1';
    if (!host.startsWith('127.')) throw new RangeError(`join: ${host} is not a loopback address`);
    const via = opts.via ?? this.state.find((s) => s.child !== undefined && !s.removed)?.apiAddress;
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
      removed: false,
      args: [],
    };
    this.state.push(m);
    this.spawnMember(m, false);
    await this.waitReady(name);
    return this.describe(m);
  }

  /** remove takes a member out of the cluster (RemoveMember through the others), then stops its process. */
  async remove(name: string): Promise<void> {
    const m = this.find(name);
    const others = this.state.filter((s) => s !== m && !s.removed && s.child !== undefined).map((s) => s.apiAddress);
    const c = this.client({ endpoints: others, attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    await c.cluster.removeMember(name);
    m.removed = true;
    if (m.child !== undefined) await this.terminate(name);
  }

  /** waitReady waits until a member answers Health with ready=true; fails early if it exits. */
  async waitReady(name: string, timeoutMs = this.opts.readyTimeoutMs ?? 20_000): Promise<void> {
    const m = this.find(name);
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      if (m.child === undefined) throw new Error(`${m.name} exited during startup:\n${this.logTail(m.name, 10)}`);
      try {
        const h = await this.probe(name).health({ timeoutMs: 500 });
        if (h.ready) return;
        last = 'not ready';
      } catch (err) {
        last = (err as Error).message.split('\n')[0] ?? '';
      }
      await sleep(25);
    }
    throw new Error(`${m.name} was not ready within ${timeoutMs} ms (${last})`);
  }

  /** waitApplied waits until member `name` has applied at least `index`. */
  async waitApplied(name: string, index: number, timeoutMs = 20_000): Promise<MemberInfo> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      try {
        const s = await this.memberStatus(name, 500);
        if (s.applied >= index) return s;
        last = `applied ${s.applied}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`${name} did not apply index ${index} within ${timeoutMs} ms (${last})`);
  }

  /** objectHash hashes every object of every served kind as one member holds it now (stale reads at that member). */
  async objectHash(name: string): Promise<{ hash: string; objects: number }> {
    const c = this.probe(name);
    const lists = [];
    for (const k of KINDS) lists.push((await c.list(k.kind, { staleOk: true, timeoutMs: 10_000 })).items);
    return { hash: objectSetHash(lists), objects: lists.reduce((n, l) => n + l.length, 0) };
  }

  /**
   * sameObjects waits until every running member has applied the leader's commit index, then
   * checks that the hash of the whole object set is equal on all of them; returns it. Throws
   * naming each member's hash otherwise.
   */
  async sameObjects(timeoutMs = 20_000): Promise<{ hash: string; objects: number }> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      const leader = await this.waitForLeader({ timeoutMs: Math.max(1, giveUp - performance.now()) });
      const commit = (await this.memberStatus(leader.name)).commit;
      const running = this.members.filter((m) => m.running);
      await Promise.all(running.map((m) => this.waitApplied(m.name, commit, Math.max(1, giveUp - performance.now()))));
      const hashes = await Promise.all(running.map(async (m) => ({ name: m.name, ...(await this.objectHash(m.name)) })));
      // Writes may have gone on meanwhile: compare again after the next commit index if they differ.
      if (hashes.every((h) => h.hash === hashes[0]!.hash)) return { hash: hashes[0]!.hash, objects: hashes[0]!.objects };
      last = hashes.map((h) => `${h.name}: ${h.hash.slice(0, 12)} (${h.objects} objects)`).join(', ');
      await sleep(100);
    }
    throw new Error(`object sets differ between members: ${last}`);
  }

  /** cli runs `tug ARGS` against the members (TUG_ENDPOINTS) and returns what it did. */
  async cli(args: readonly string[], opts: { endpoints?: readonly string[]; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    const endpoints = opts.endpoints ?? this.endpoints();
    const child = spawn(process.execPath, [tugCliMainPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TUG_ENDPOINTS: endpoints.join(','), TUG_CONFIG: join(this.dir, 'no-tug-config') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (c) => resolve(c));
      child.once('error', () => resolve(null));
    });
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** flags returns the tug-control flags a member was last started with. */
  flags(name: string): readonly string[] {
    return this.find(name).args;
  }

  /** logTail returns the last `lines` lines of a member's log. */
  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(this.find(name).logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** logText returns a member's whole log. */
  logText(name: string): string {
    try {
      return readFileSync(this.find(name).logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** stop ends every member process this cluster started (SIGTERM by PID, SIGKILL after the grace period), closes its clients and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients) c.close();
    for (const c of this.probes.values()) c.close();
    const grace = this.opts.stopGraceMs ?? 5_000;
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

  private probe(name: string): TugClient {
    const m = this.find(name);
    let c = this.probes.get(m.apiAddress);
    if (c === undefined) {
      c = new TugClient({ endpoints: [m.apiAddress], attemptTimeoutMs: 2_000, retryBudgetMs: 2_000, unreachableRoundsMax: 1 });
      this.probes.set(m.apiAddress, c);
    }
    return c;
  }

  private removeDir(): void {
    if (process.env['TUG_KEEP_TEST_DIRS'] === '1') {
      process.stderr.write(`TugCluster: kept ${this.dir}\n`);
      return;
    }
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }

  private assertLive(): void {
    if (this.stopped) throw new Error('TugCluster is stopped');
  }

  private find(name: string): MemberState {
    const m = this.state.find((s) => s.name === name);
    if (m === undefined) throw new Error(`no member named ${name} (members: ${this.state.map((s) => s.name).join(', ')})`);
    return m;
  }

  private describe(m: MemberState): TugMemberProcess {
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
      tugControlMainPath,
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
    if (this.opts.snapshotEntries !== undefined) args.push('--snapshot-entries', String(this.opts.snapshotEntries));
    args.push(...(this.opts.extraArgs ?? []));
    m.args = args.slice(1);
    const logFd = openSync(m.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { stdio: ['pipe', 'ignore', logFd], env: { ...process.env, TUG_EXIT_ON_STDIN_EOF: '1' } });
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
}
