/**
 * tug-control: one control-plane member: a Raft member whose state machine is the object store,
 * serving the tug.v1 API (proto/tug/v1/api.proto) to `tug`, the agents and the other members.
 * See `--help` (flags.ts) and control-plane.ts.
 *
 * A new member either founds a cluster (`--initial-cluster`, the same list on every founding
 * member) or joins a running one (`--join APIADDR`: it learns the cluster id and the members'
 * peer addresses from that member's ClusterService.Status, starts, and asks to be added with
 * AddMember, which the cluster forwards to its leader). A member restarted on its data dir
 * recovers from disk and ignores both flags; a join that did not finish is retried.
 *
 * Exit status: 0 after SIGTERM/SIGINT (graceful: leadership handed over, watches ended, API
 * server closed, LevelDB closed), 1 on a startup or fatal error, 2 on bad flags.
 *
 * With TUG_EXIT_ON_STDIN_EOF=1 in the environment the member also shuts down when its stdin
 * closes: a test harness passes a pipe, so members never outlive it, even if it is SIGKILLed.
 */
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { TugClient, isAlreadyExists } from '@tugboat/client';
import type { ClusterStatus } from '@tugboat/client';
import { ControlPlane } from './control-plane.ts';
import { clusterIdFor, readMemberFile, writeMemberFile } from './data-dir.ts';
import { FlagError, isFlagError, parseFlags, usage } from './flags.ts';
import type { Flags } from './flags.ts';

/** clusterStatusOf asks the member at `address` for the cluster's status, retrying until `timeoutMs`. */
async function clusterStatusOf(address: string, timeoutMs: number, log: Logger, stopped: () => boolean): Promise<ClusterStatus> {
  const client = new TugClient({ endpoints: [address], attemptTimeoutMs: 2_000, retryBudgetMs: 2_500 });
  const giveUp = performance.now() + timeoutMs;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.cluster.status();
      } catch (err) {
        if (stopped()) throw new Error('shutdown requested while waiting for the member to join through');
        if (performance.now() > giveUp) throw new Error(`cannot reach ${address} to join through: ${(err as Error).message}`, { cause: err });
        if (attempt === 1) log.warn({ via: address, err: (err as Error).message }, 'member to join through does not answer yet; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    client.close();
  }
}

/** askToJoin makes the cluster add this member (through any member; it forwards to the leader). */
async function askToJoin(flags: Flags, via: string, log: Logger): Promise<void> {
  const client = new TugClient({ endpoints: [via], attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
  try {
    await client.cluster.addMember({ name: flags.name, peerAddress: flags.advertisePeer, apiAddress: flags.advertiseApi });
    log.info({ via }, 'joined the cluster');
  } catch (err) {
    if (isAlreadyExists(err)) throw new Error(`cannot join through ${via}: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    client.close();
  }
}

/** main runs tug-control with `argv` (without the node and script paths); resolves to the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
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
  const log = pino(
    { name: 'tug-control', level: flags.logLevel, base: { member: flags.name, pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );

  // Shutdown requests (SIGTERM, SIGINT, stdin EOF) may come at any time, also during startup
  // (recovery can take a while): before the member exists they are remembered, after it they stop it.
  const pending: { why?: string; stop?: (why: string) => void } = {};
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

  let file = readMemberFile(flags.dataDir);
  let bootstrap: { id: string; address: string }[] | undefined;
  let peers: Record<string, string> | undefined;
  if (file !== undefined) {
    if (file.name !== flags.name) {
      throw new FlagError('name', `${flags.name} does not match data dir ${flags.dataDir}, which belongs to member ${file.name}`);
    }
    if (file.joining === undefined && (flags.initialCluster !== undefined || flags.join !== undefined)) {
      log.info({ dataDir: flags.dataDir }, 'existing data dir: recovering from disk; --initial-cluster and --join are ignored');
    }
  } else if (flags.initialCluster !== undefined) {
    file = { name: flags.name, clusterId: clusterIdFor(flags.initialCluster) };
    writeMemberFile(flags.dataDir, file);
    bootstrap = flags.initialCluster.map((m) => ({ id: m.name, address: m.peerAddress }));
  } else if (flags.join !== undefined) {
    file = { name: flags.name, clusterId: '', joining: flags.join };
  } else {
    throw new FlagError('initial-cluster', `or --join is required to start a new member (${flags.dataDir} holds no member)`);
  }

  if (file.joining !== undefined) {
    // Learn the cluster id and the members' peer addresses, so that this member accepts the
    // leader's messages once it is added.
    let st: ClusterStatus;
    try {
      st = await clusterStatusOf(file.joining, 30_000, log, () => pending.why !== undefined);
    } catch (err) {
      if (pending.why === undefined) throw err;
      log.info({ why: pending.why }, 'stopped before starting');
      return 0;
    }
    if (file.clusterId !== '' && st.clusterId !== file.clusterId) {
      throw new Error(`member at ${file.joining} belongs to cluster ${st.clusterId}, this data dir to cluster ${file.clusterId}`);
    }
    const same = st.members.find((m) => m.name === flags.name);
    if (same !== undefined && same.peerAddress !== flags.advertisePeer) {
      throw new FlagError('name', `${flags.name} is already a member with peer address ${same.peerAddress}, not ${flags.advertisePeer}`);
    }
    peers = Object.fromEntries(st.members.filter((m) => m.peerAddress !== '').map((m) => [m.name, m.peerAddress]));
    file = { name: flags.name, clusterId: st.clusterId, joining: file.joining };
    writeMemberFile(flags.dataDir, file);
  }

  if (pending.why !== undefined) {
    log.info({ why: pending.why }, 'stopped before starting');
    return 0;
  }
  const plane = await ControlPlane.start({
    name: flags.name,
    clusterId: file.clusterId,
    raftDir: join(flags.dataDir, 'raft'),
    listenPeer: flags.listenPeer,
    advertisePeer: flags.advertisePeer,
    listenApi: flags.listenApi,
    advertiseApi: flags.advertiseApi,
    tickMs: flags.tickMs,
    electionTicks: flags.electionTicks,
    snapshotEntries: flags.snapshotEntries,
    logger: log,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    ...(peers === undefined ? {} : { peers }),
  });

  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  const stop = (why: string, code: number): Promise<void> => {
    if (stopping !== undefined) return stopping;
    exitCode = code;
    log.info({ why }, 'shutting down');
    stopping = plane.close();
    return stopping;
  };
  pending.stop = (why) => void stop(why, 0);
  if (pending.why !== undefined) void stop(pending.why, 0);

  if (file.joining !== undefined && stopping === undefined) {
    try {
      await askToJoin(flags, file.joining, log);
      file = { name: file.name, clusterId: file.clusterId };
      writeMemberFile(flags.dataDir, file);
    } catch (err) {
      if (stopping === undefined) {
        log.fatal({ err }, 'could not join the cluster; a restart with the same data dir tries again');
        await stop('join failed', 1);
      }
    }
  }

  const fatal = await plane.stopped;
  if (fatal !== undefined) {
    log.fatal({ err: fatal }, 'raft node stopped on a fatal error');
    await stop('fatal error', 1);
  }
  await stopping;
  log.info({ exitCode }, 'stopped');
  return exitCode;
}

/** run runs main and exits the process with its status. */
export function run(argv: readonly string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (isFlagError(err)) {
        process.stderr.write(`tug-control: ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`tug-control: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
