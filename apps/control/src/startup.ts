/**
 * The startup and shutdown steps shared by the member processes that take tug-control's flags:
 * tug-control itself (serve.ts) and the command-log member of the Raft-level tests
 * (test/support/command-log-member/main.ts, through @tugboat/control/startup): flags to
 * options, the logger, shutdown requests (signals, stdin EOF), the data dir's identity, learning
 * the cluster to join, graceful stop, and the exit status; runMember puts them in order.
 */
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { joinUnlessCertified, servedOn } from '@tugboat/client';
import type { JoinIdentity } from '@tugboat/client';
import { loadSecurity } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { clusterIdFor, readMemberFile, writeMemberFile } from './data-dir.ts';
import type { MemberFile } from './data-dir.ts';
import { FlagError, isFlagError, parseFlags, usage } from './flags.ts';
import type { Flags } from './flags.ts';
import type { RaftMemberOptions } from './member-options.ts';

/** flagsOrExit parses `argv`; on bad flags or --help it writes what to and returns the exit status. */
function flagsOrExit(argv: readonly string[]): Flags | number {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!isFlagError(err)) throw err;
    process.stderr.write(`tug-control: ${err.message}\n(see tug-control --help)\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return flags;
}

/** memberLogger is the member's pino logger: JSON lines on stderr. */
function memberLogger(flags: Flags): Logger {
  return pino(
    { name: 'tug-control', level: flags.logLevel, base: { member: flags.name, pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** PendingStop holds a shutdown request made before the member exists (`why`), or how to stop it (`stop`). */
interface PendingStop {
  why?: string;
  stop?: (why: string) => void;
}

/**
 * shutdownRequests installs the handlers of SIGTERM, SIGINT (a second one exits at once) and,
 * with TUG_EXIT_ON_STDIN_EOF=1, stdin EOF. Requests may come at any time, also during startup
 * (recovery can take a while): before the member exists they are remembered, after it they stop it.
 */
function shutdownRequests(log: Logger): PendingStop {
  const pending: PendingStop = {};
  const requestStop = (why: string): void => {
    if (pending.stop !== undefined) pending.stop(why);
    else pending.why ??= why;
  };
  let signals = 0;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (++signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      requestStop(sig);
    });
  }
  if (process.env['TUG_EXIT_ON_STDIN_EOF'] === '1') {
    process.stdin.on('end', () => requestStop('stdin closed (parent gone)'));
    process.stdin.on('error', () => requestStop('stdin failed (parent gone)'));
    process.stdin.resume();
  }
  return pending;
}

/** Identity is who the data dir says this member is (`file`), and how it starts. */
interface Identity {
  file: MemberFile;
  /** Founding members of a new cluster; undefined on restart and when joining. */
  bootstrap: { id: string; address: string }[] | undefined;
  /** The data dir already held a member (it recovers from disk). */
  recovering: boolean;
}

/** identityOf reads the data dir, or founds a new member (--initial-cluster) or plans to join (--join). */
function identityOf(flags: Flags): Identity {
  const file = readMemberFile(flags.dataDir);
  if (file !== undefined) {
    if (file.name !== flags.name) {
      throw new FlagError('name', `${flags.name} does not match data dir ${flags.dataDir}, which belongs to member ${file.name}`);
    }
    return { file, bootstrap: undefined, recovering: true };
  }
  if (flags.initialCluster !== undefined) {
    const founded = { name: flags.name, clusterId: clusterIdFor(flags.initialCluster) };
    writeMemberFile(flags.dataDir, founded);
    return { file: founded, bootstrap: flags.initialCluster.map((m) => ({ id: m.name, address: m.peerAddress })), recovering: false };
  }
  if (flags.join !== undefined) return { file: { name: flags.name, clusterId: '', joining: flags.join }, bootstrap: undefined, recovering: false };
  throw new FlagError('initial-cluster', `or --join is required to start a new member (${flags.dataDir} holds no member)`);
}

/** retryJoinTarget calls `ask` (the member at `address`) until it answers or `timeoutMs` passes. */
export async function retryJoinTarget<T>(address: string, timeoutMs: number, log: Logger, stopped: () => boolean, ask: () => Promise<T>): Promise<T> {
  const giveUp = performance.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask();
    } catch (err) {
      if (stopped()) throw new Error('shutdown requested while waiting for the member to join through');
      if (performance.now() > giveUp) throw new Error(`cannot reach ${address} to join through: ${(err as Error).message}`, { cause: err });
      if (attempt === 1) log.warn({ via: address, err: (err as Error).message }, 'member to join through does not answer yet; retrying');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * adoptCluster checks what the member to join through said (`st`) against the data dir and the
 * flags, and records the cluster id in the data dir; returns the new member file.
 */
function adoptCluster(flags: Flags, file: MemberFile & { joining: string }, st: { clusterId: string; members: readonly { name: string; peerAddress: string }[] }): MemberFile {
  if (file.clusterId !== '' && st.clusterId !== file.clusterId) {
    throw new Error(`member at ${file.joining} belongs to cluster ${st.clusterId}, this data dir to cluster ${file.clusterId}`);
  }
  const same = st.members.find((m) => m.name === flags.name);
  if (same !== undefined && same.peerAddress !== flags.advertisePeer) {
    throw new FlagError('name', `${flags.name} is already a member with peer address ${same.peerAddress}, not ${flags.advertisePeer}`);
  }
  const adopted = { name: flags.name, clusterId: st.clusterId, joining: file.joining };
  writeMemberFile(flags.dataDir, adopted);
  return adopted;
}

/** finishJoin records in the data dir that the join is done. */
function finishJoin(flags: Flags, file: MemberFile): MemberFile {
  const done = { name: file.name, clusterId: file.clusterId };
  writeMemberFile(flags.dataDir, done);
  return done;
}

/** memberSecurity loads the member's TLS files, first joining with --token for them when its
 *  certificate does not exist yet (a member certificate naming its advertised addresses). */
async function memberSecurity(flags: Flags, log: Logger): Promise<Security> {
  const t = flags.transport;
  if ('tls' in t && t.bootstrap !== undefined && flags.join !== undefined) {
    const identity: JoinIdentity = { role: 'member', commonName: flags.name, ...servedOn([flags.advertiseApi, flags.advertisePeer]) };
    const via = await joinUnlessCertified({ ...t.tls, caKeyFile: flags.caKeyFile }, { ...t.bootstrap, addresses: [flags.join] }, identity, log);
    if (via !== undefined) log.info({ via, certFile: t.tls.certFile }, 'joined with a bootstrap token: certificate written');
  }
  return loadSecurity(t, log);
}

/** memberStartOptions are the options both member kinds start with, from the flags and the identity. */
function memberStartOptions(
  flags: Flags,
  clusterId: string,
  log: Logger,
  bootstrap: { id: string; address: string }[] | undefined,
  peers: Record<string, string> | undefined,
  security: Security,
): RaftMemberOptions {
  return {
    name: flags.name,
    clusterId,
    raftDir: join(flags.dataDir, 'raft'),
    listenPeer: flags.listenPeer,
    advertisePeer: flags.advertisePeer,
    listenApi: flags.listenApi,
    advertiseApi: flags.advertiseApi,
    tickMs: flags.tickMs,
    electionTicks: flags.electionTicks,
    snapshotEntries: flags.snapshotEntries,
    logger: log,
    security,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    ...(peers === undefined ? {} : { peers }),
  };
}

/** Stopper stops a started member once, and remembers the exit status. */
interface Stopper {
  stop(why: string, code: number): Promise<void>;
  /** The stop under way, undefined before. */
  readonly stopping: Promise<void> | undefined;
  readonly exitCode: number;
}

/** stopperOf makes `pending` stop `member` from now on (also for a request made before). */
function stopperOf(member: { close(): Promise<void> }, pending: PendingStop, log: Logger): Stopper {
  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  const stop = (why: string, code: number): Promise<void> => {
    if (stopping !== undefined) return stopping;
    exitCode = code;
    log.info({ why }, 'shutting down');
    stopping = member.close();
    return stopping;
  };
  pending.stop = (why) => void stop(why, 0);
  if (pending.why !== undefined) void stop(pending.why, 0);
  return {
    stop,
    get stopping() {
      return stopping;
    },
    get exitCode() {
      return exitCode;
    },
  };
}

/** runUntilStopped waits until the member stops (stopping it on a fatal error) and returns the exit status. */
async function runUntilStopped(member: { stopped: Promise<Error | undefined> }, stopper: Stopper, log: Logger): Promise<number> {
  const fatal = await member.stopped;
  if (fatal !== undefined) {
    log.fatal({ err: fatal }, 'raft node stopped on a fatal error');
    await stopper.stop('fatal error', 1);
  }
  await stopper.stopping;
  log.info({ exitCode: stopper.exitCode }, 'stopped');
  return stopper.exitCode;
}

/** exitWith exits the process with the status `main` resolves to (2 for a flag error, 1 for any other). */
export function exitWith(main: Promise<number>): void {
  main.then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (isFlagError(err)) {
        process.stderr.write(`tug-control: ${err.message}\n`);
        process.exit(2);
      }
      if (err instanceof Error && err.name === 'PkiError') {
        process.stderr.write(`tug-control: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`tug-control: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** ClusterView is what a member to join through says about the cluster. */
export interface ClusterView {
  readonly clusterId: string;
  readonly members: readonly { readonly name: string; readonly peerAddress: string }[];
}

/** JoinSteps are how a member kind talks to the cluster it joins through `via`, an API address. */
export interface JoinSteps {
  /** status learns the cluster from `via`, retrying (retryJoinTarget) for up to timeoutMs or until stopped(). */
  status(via: string, security: Security, timeoutMs: number, log: Logger, stopped: () => boolean): Promise<ClusterView>;
  /** addSelf makes the cluster add this member (through any member; it forwards to the leader). */
  addSelf(flags: Flags, via: string, security: Security, log: Logger): Promise<void>;
}

/** StartedMember is what runMember needs of a started member. */
export interface StartedMember {
  close(): Promise<void>;
  readonly stopped: Promise<Error | undefined>;
}

/**
 * runMember runs a member process from `argv` to its exit status: flags, logger, shutdown
 * requests, the data dir's identity; for a member that joins, the cluster learnt through `join`
 * before it starts; `start` with the options; then the join finished (AddMember) and the member
 * run until it stops. A shutdown requested at any step is honoured there. `prepare` loads what
 * the member kind needs of its own files first, before the TLS files, a token join or the data
 * dir (a bad file stops the process before anything is written or asked); `start` gets its result.
 */
export async function runMember<P = undefined>(
  argv: readonly string[],
  join: JoinSteps,
  start: (opts: RaftMemberOptions, flags: Flags, prepared: P) => Promise<StartedMember>,
  prepare?: (flags: Flags, log: Logger) => P,
): Promise<number> {
  const flags = flagsOrExit(argv);
  if (typeof flags === 'number') return flags;
  const log = memberLogger(flags);
  // First: a bad file of the member's own stops it before a token join spends its token.
  const prepared = prepare?.(flags, log) as P;
  const security = await memberSecurity(flags, log);
  const pending = shutdownRequests(log);

  const identity = identityOf(flags);
  let file = identity.file;
  let peers: Record<string, string> | undefined;
  if (identity.recovering && file.joining === undefined && (flags.initialCluster !== undefined || flags.join !== undefined)) {
    log.info({ dataDir: flags.dataDir }, 'existing data dir: recovering from disk; --initial-cluster and --join are ignored');
  }

  if (file.joining !== undefined) {
    // Learn the cluster id and the members' peer addresses, so that this member accepts the
    // leader's messages once it is added.
    let st: ClusterView;
    try {
      st = await join.status(file.joining, security, 30_000, log, () => pending.why !== undefined);
    } catch (err) {
      if (pending.why === undefined) throw err;
      log.info({ why: pending.why }, 'stopped before starting');
      return 0;
    }
    file = adoptCluster(flags, { ...file, joining: file.joining }, st);
    peers = Object.fromEntries(st.members.filter((m) => m.peerAddress !== '').map((m) => [m.name, m.peerAddress]));
  }

  if (pending.why !== undefined) {
    log.info({ why: pending.why }, 'stopped before starting');
    return 0;
  }
  const member = await start(memberStartOptions(flags, file.clusterId, log, identity.bootstrap, peers, security), flags, prepared);
  const stopper = stopperOf(member, pending, log);

  if (file.joining !== undefined && stopper.stopping === undefined) {
    try {
      await join.addSelf(flags, file.joining, security, log);
      file = finishJoin(flags, file);
    } catch (err) {
      if (stopper.stopping === undefined) {
        log.fatal({ err }, 'could not join the cluster; a restart with the same data dir tries again');
        await stopper.stop('join failed', 1);
      }
    }
  }
  return runUntilStopped(member, stopper, log);
}
