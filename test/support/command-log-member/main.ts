#!/usr/bin/env node
/**
 * The command-log member process: a Raft member whose state machine is a command log, with the
 * tug.v1.MemberService API (proto/tug/v1/member.proto beside it). It takes tug-control's flags
 * and data dir layout, and starts and stops through tug-control's own steps
 * (@tugboat/control/startup). The Raft-level integration tests and the Raft benchmark
 * (`npm run bench:raft`) run it through CommandLogCluster (cluster.ts) to exercise Raft through
 * real processes without the object store; `tug-control` itself is apps/control/src/main.ts.
 *
 * Exit status: 0 after SIGTERM/SIGINT (graceful: API server closed, LevelDB closed), 1 on a
 * startup or fatal error, 2 on bad flags.
 *
 * With TUG_EXIT_ON_STDIN_EOF=1 in the environment the member also shuts down when its stdin
 * closes: a test harness passes a pipe, so members never outlive it, even if it is SIGKILLed.
 */
import type { Logger } from 'pino';
import { Status } from '@tugboat/proto';
import type { Flags } from '@tugboat/control';
import {
  adoptCluster,
  exitWith,
  finishJoin,
  flagsOrExit,
  identityOf,
  memberLogger,
  memberStartOptions,
  retryJoinTarget,
  runUntilStopped,
  shutdownRequests,
  stopperOf,
} from '@tugboat/control/startup';
import { CommandLogMember } from './member.ts';
import { MemberClient, isMemberClientError } from './client.ts';
import type { MemberServiceStatusResponse } from './gen/tug/v1/member_pb.js';

/** statusWithRetry asks one member for its Status until it answers or `timeoutMs` passes. */
async function statusWithRetry(address: string, timeoutMs: number, log: Logger, stopped: () => boolean): Promise<MemberServiceStatusResponse> {
  const client = new MemberClient({ endpoints: [address] });
  try {
    return await retryJoinTarget(address, timeoutMs, log, stopped, () => client.status(address, 2_000));
  } finally {
    client.close();
  }
}

/** askToJoin makes the cluster add this member (through any member; it forwards to the leader). */
async function askToJoin(flags: Flags, via: string, log: Logger): Promise<void> {
  const client = new MemberClient({ endpoints: [via], deadlineMs: 60_000, attemptTimeoutMs: 15_000 });
  try {
    await client.addMember(flags.name, flags.advertisePeer);
    log.info({ via }, 'joined the cluster');
  } catch (err) {
    if (isMemberClientError(err) && err.code === Status.ALREADY_EXISTS) {
      log.info({ via }, 'already a member of the cluster');
      return;
    }
    throw err;
  } finally {
    client.close();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const flags = flagsOrExit(argv);
  if (typeof flags === 'number') return flags;
  const log = memberLogger(flags);
  const pending = shutdownRequests(log);

  const identity = identityOf(flags);
  let file = identity.file;
  let peers: Record<string, string> | undefined;
  if (identity.recovering && (flags.initialCluster !== undefined || flags.join !== undefined)) {
    log.info({ dataDir: flags.dataDir }, 'existing data dir: recovering from disk; --initial-cluster and --join are ignored');
  }

  if (file.joining !== undefined) {
    // Learn the cluster id and the current members' peer addresses, so that this member accepts
    // the leader's messages once it is added.
    let st: MemberServiceStatusResponse;
    try {
      st = await statusWithRetry(file.joining, 30_000, log, () => pending.why !== undefined);
    } catch (err) {
      if (pending.why === undefined) throw err;
      log.info({ why: pending.why }, 'stopped before starting');
      return 0;
    }
    file = adoptCluster(flags, { ...file, joining: file.joining }, st);
    peers = Object.fromEntries(st.members.map((m) => [m.name, m.peerAddress]));
  }

  if (pending.why !== undefined) {
    log.info({ why: pending.why }, 'stopped before starting');
    return 0;
  }
  const member = await CommandLogMember.start(memberStartOptions(flags, file.clusterId, log, identity.bootstrap, peers));
  const stopper = stopperOf(member, pending, log);

  if (file.joining !== undefined) {
    try {
      await askToJoin(flags, file.joining, log);
      file = finishJoin(flags, file);
    } catch (err) {
      log.fatal({ err }, 'could not join the cluster; a restart with the same data dir tries again');
      await stopper.stop('join failed', 1);
    }
  }
  return runUntilStopped(member, stopper, log);
}

exitWith(main(process.argv.slice(2)));
