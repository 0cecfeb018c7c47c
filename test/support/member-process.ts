/**
 * The process-lifecycle mechanics shared by the harnesses that run cluster members as real
 * processes on loopback (CommandLogCluster, command-log-member/cluster.ts; TugCluster,
 * tug-cluster.ts): free ports, the temporary directory (with an owner file, so a later harness
 * can remove what a SIGKILLed one left), spawning a member (`node MAIN --name … --data-dir … …`,
 * stderr appended to DIR/NAME.log, TUG_EXIT_ON_STDIN_EOF=1 on a pipe from us),
 * SIGKILL/SIGTERM/restart by PID, graceful `stop`, and the synchronous kill of every live
 * cluster when this process exits or gets SIGINT/SIGTERM. Each harness adds its binary, extra
 * flags, readiness check and client.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bootstrap } from '@tugboat/pki';
import { INSECURE_PLAINTEXT } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { TestPki, tlsArgs } from './test-pki.ts';
import type { MemberTls } from './test-pki.ts';

/** MemberClusterOptions are the options every process harness takes (defaults per harness). */
export interface MemberClusterOptions {
  /** Members serve plain text (--insecure-plaintext) instead of mutual TLS under a test CA. */
  readonly plaintext?: boolean;
  /** Number of members. Default 3. */
  readonly size?: number;
  /** Loopback address of each member. */
  readonly hosts?: readonly string[];
  /** Member names. Default c1..cN. */
  readonly names?: readonly string[];
  /** --tick-ms. Default: the member's default. */
  readonly tickMs?: number;
  /** --election-ticks. Default: the member's default. */
  readonly electionTicks?: number;
  /** More flags for every member. */
  readonly extraArgs?: readonly string[];
  /** --log-level. Default 'info'. */
  readonly logLevel?: string;
  /** How long `start`, `restart` and `join` wait for readiness, ms. Default 20,000. */
  readonly readyTimeoutMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL, ms. */
  readonly stopGraceMs?: number;
  /** Prefix of the temporary directory name. */
  readonly dirPrefix?: string;
  /** certificateIssuedDaysAgo: the founding members' certificates are this old (one year's). */
  readonly certificateIssuedDaysAgo?: number;
}

/** MemberProcessInfo is one member as a harness runs it. */
export interface MemberProcessInfo {
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
  /** tls: its TLS files (undefined in plain text). */
  readonly tls: MemberTls | undefined;
}

/** LeaderInfo is the leader as a majority of the members see it. */
export interface LeaderInfo {
  readonly name: string;
  readonly term: number;
  readonly apiAddress: string;
  /** performance.now() when it was first seen as leader by a majority. */
  readonly seenAtMs: number;
}

/** LeaderView is what waitForLeader needs of a member's status. */
export interface LeaderView {
  readonly name: string;
  readonly role: string;
  readonly term: number | bigint;
  readonly leader: string;
  readonly apiAddress: string;
}

/** MemberState is a harness's record of one member. */
export interface MemberState {
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
  /** The member's flags at the last start. */
  args: string[];
  /** Its certificate and key; undefined when the cluster runs plain text. */
  tls: MemberTls | undefined;
  /** bootstrap: the token a member joins with (its files are made by the join). */
  bootstrap: Bootstrap | undefined;
}

const live = new Set<MemberProcessCluster>();
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
export async function freePort(host: string, taken: Set<string>): Promise<number> {
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** newMember allocates free peer and API ports on `host` and the paths of member `name` under `dir`. */
async function newMember(
  dir: string,
  pki: TestPki | undefined,
  name: string,
  host: string,
  taken: Set<string>,
  joinVia: string,
  opts: { bootstrap?: Bootstrap | undefined; issuedDaysAgo?: number | undefined } = {},
): Promise<MemberState> {
  const own = join(dir, `${name}-tls`);
  const bootstrap = opts.bootstrap;
  return {
    tls: bootstrap === undefined ? await pki?.issueMember(name, host, opts.issuedDaysAgo) : { caFile: join(own, 'ca.crt'), certFile: join(own, 'member.crt'), keyFile: join(own, 'member.key'), caKeyFile: join(own, 'ca.key') },
    bootstrap,
    name,
    host,
    peerAddress: `${host}:${await freePort(host, taken)}`,
    apiAddress: `${host}:${await freePort(host, taken)}`,
    dataDir: join(dir, name),
    logFile: join(dir, `${name}.log`),
    child: undefined,
    exited: Promise.resolve(),
    starts: 0,
    joinVia,
    removed: false,
    args: [],
  };
}

/** PlannedMembers: a new cluster's directory, members and test CA. */
export interface PlannedMembers {
  readonly dir: string;
  readonly state: MemberState[];
  readonly pki: TestPki | undefined;
}

/**
 * planMembers checks the size, hosts and names of a new cluster, removes stale directories,
 * creates its temporary directory (with the owner file) and allocates every member's ports.
 */
export async function planMembers(
  label: string,
  opts: MemberClusterOptions,
  defaults: { host: (i: number) => string; dirPrefix: string },
): Promise<PlannedMembers> {
  const size = opts.size ?? 3;
  if (!(Number.isSafeInteger(size) && size >= 1 && size <= 9)) throw new RangeError(`${label}: size must be 1 to 9, got ${size}`);
  const hosts = opts.hosts ?? Array.from({ length: size }, (_, i) => defaults.host(i));
  if (hosts.length !== size) throw new RangeError(`${label}: ${hosts.length} hosts for ${size} members`);
  for (const h of hosts) if (!h.startsWith('127.')) throw new RangeError(`${label}: ${h} is not a loopback address`);
  const names = opts.names ?? Array.from({ length: size }, (_, i) => `c${i + 1}`);
  const prefix = opts.dirPrefix ?? defaults.dirPrefix;
  sweepStale(prefix);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, ownerFile), `${process.pid} ${processStartTicks(process.pid) ?? '0'}\n`);
  const taken = new Set<string>();
  const pki = opts.plaintext === true ? undefined : await TestPki.create(dir);
  const state: MemberState[] = [];
  for (let i = 0; i < size; i++) state.push(await newMember(dir, pki, names[i]!, hosts[i]!, taken, '', { issuedDaysAgo: opts.certificateIssuedDaysAgo }));
  return { dir, state, pki };
}

/**
 * MemberProcessCluster is the part of a process harness that starts, kills, restarts and stops
 * member processes. A harness says which entry point to run (`mainPath`), which flags to add
 * (`memberFlags`), how to wait for a started member (`waitStarted`) and which clients to close.
 */
export abstract class MemberProcessCluster<O extends MemberClusterOptions = MemberClusterOptions> {
  /** The temporary directory holding every member's data dir and log. */
  readonly dir: string;
  protected readonly opts: O;
  protected readonly state: MemberState[];
  protected stopped = false;
  private readonly label: string;
  private readonly mainPath: string;
  private readonly defaultStopGraceMs: number;

  /** pki: the cluster's test CA; undefined when it runs plain text. */
  readonly pki: TestPki | undefined;
  /** security is how clients of the members dial them (the harness's, and a test's own). */
  readonly security: Security;

  protected constructor(label: string, mainPath: string, defaultStopGraceMs: number, planned: PlannedMembers, opts: O) {
    const { dir, state, pki } = planned;
    this.pki = pki;
    this.security = pki?.adminSecurity() ?? INSECURE_PLAINTEXT;
    this.label = label;
    this.mainPath = mainPath;
    this.defaultStopGraceMs = defaultStopGraceMs;
    this.dir = dir;
    this.opts = opts;
    this.state = state;
  }

  /** waitStarted waits until a member just spawned is ready; fails early if it exits. */
  protected abstract waitStarted(name: string): Promise<void>;

  /** statuses asks every running member (not removed ones) for its status; a member that does not answer maps to its error. */
  abstract statuses(timeoutMs?: number): Promise<Map<string, LeaderView | Error>>;

  /** closeClients closes the harness's clients (on `stop`). */
  protected abstract closeClients(): void;

  /** memberFlags are flags of this harness after the common ones, before `extraArgs`. */
  protected memberFlags(): string[] {
    return [];
  }

  /**
   * launch spawns every member with a fresh --initial-cluster, waits until each is started and
   * then for `then`. On failure everything started is cleaned up.
   */
  protected async launch(then?: () => Promise<unknown>): Promise<void> {
    live.add(this);
    installHooks();
    try {
      for (const m of this.state) this.spawnMember(m, true);
      await Promise.all(this.state.map((m) => this.waitStarted(m.name)));
      if (then !== undefined) await then();
    } catch (err) {
      const tails = this.state.map((m) => `--- ${m.name} (${m.logFile})\n${this.logTail(m.name, 15)}`).join('\n');
      await this.stop();
      throw new Error(`${this.label}.start failed: ${(err as Error).message}\n${tails}`, { cause: err });
    }
  }

  /** members describes every member that was not removed (running or not). */
  get members(): MemberProcessInfo[] {
    return this.state.filter((m) => !m.removed).map((m) => this.describe(m));
  }

  member(name: string): MemberProcessInfo {
    return this.describe(this.find(name));
  }

  /** endpoints are the API addresses of the members (not removed ones). */
  endpoints(): string[] {
    return this.state.filter((m) => !m.removed).map((m) => m.apiAddress);
  }

  /**
   * waitForLeader polls until a running member leads and a majority of all members agree on it
   * and its term; `exclude` skips a leader (e.g. one just killed), `minTerm` older terms.
   */
  async waitForLeader(opts: { timeoutMs?: number; exclude?: string; minTerm?: number; pollMs?: number } = {}): Promise<LeaderInfo> {
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
    await this.waitStarted(name);
  }

  /** join starts a new member with --join (through `via`, default the first running member's
   *  API) and waits until it is ready; with `bootstrap` it has no certificate and joins with
   *  the token for one (--token, --ca-hash). */
  async join(name: string, opts: { host?: string; via?: string; bootstrap?: Bootstrap } = {}): Promise<MemberProcessInfo> {
    this.assertLive();
    if (this.state.some((s) => s.name === name)) throw new Error(`join: ${name} already exists`);
    const host = opts.host ?? '127.0.0.1';
    if (!host.startsWith('127.')) throw new RangeError(`join: ${host} is not a loopback address`);
    const via = opts.via ?? this.state.find((s) => s.child !== undefined && !s.removed)?.apiAddress;
    if (via === undefined) throw new Error('join: no running member to join through');
    const taken = new Set(this.state.flatMap((s) => [s.peerAddress, s.apiAddress]));
    const m = await newMember(this.dir, this.pki, name, host, taken, via, { bootstrap: opts.bootstrap });
    this.state.push(m);
    this.spawnMember(m, false);
    await this.waitStarted(name);
    return this.describe(m);
  }

  /** logTail returns the last `lines` lines of a member's log. */
  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(this.find(name).logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
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
    this.closeClients();
    const grace = this.opts.stopGraceMs ?? this.defaultStopGraceMs;
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

  protected assertLive(): void {
    if (this.stopped) throw new Error(`${this.label} is stopped`);
  }

  protected find(name: string): MemberState {
    const m = this.state.find((s) => s.name === name);
    if (m === undefined) throw new Error(`no member named ${name} (members: ${this.state.map((s) => s.name).join(', ')})`);
    return m;
  }

  protected describe(m: MemberState): MemberProcessInfo {
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
      tls: m.tls,
    };
  }

  private removeDir(): void {
    if (process.env['TUG_KEEP_TEST_DIRS'] === '1') {
      process.stderr.write(`${this.label}: kept ${this.dir}\n`);
      return;
    }
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }

  private spawnMember(m: MemberState, first: boolean): void {
    this.assertLive();
    const args = [
      this.mainPath,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-peer', m.peerAddress,
      '--listen-api', m.apiAddress,
      '--log-level', this.opts.logLevel ?? 'info',
    ];
    if (first) args.push('--initial-cluster', this.state.map((s) => `${s.name}=${s.peerAddress}`).join(','));
    else if (m.joinVia !== '' && m.starts === 0) args.push('--join', m.joinVia);
    if (m.bootstrap !== undefined && m.starts === 0) args.push('--token', m.bootstrap.token, '--ca-hash', m.bootstrap.caHash);
    if (this.opts.tickMs !== undefined) args.push('--tick-ms', String(this.opts.tickMs));
    if (this.opts.electionTicks !== undefined) args.push('--election-ticks', String(this.opts.electionTicks));
    args.push(...tlsArgs(m.tls), ...this.memberFlags(), ...(this.opts.extraArgs ?? []));
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
