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
import type { Security } from '@tugboat/proto';
import type { Flags } from '@tugboat/control';
import { exitWith, retryJoinTarget, runMember } from '@tugboat/control/startup';
import { CommandLogMember } from './member.ts';
import { MemberClient, isMemberClientError } from './client.ts';
import type { MemberServiceStatusResponse } from './gen/tug/v1/member_pb.js';

/** statusWithRetry asks one member for its Status until it answers or `timeoutMs` passes. */
async function statusWithRetry(address: string, security: Security, timeoutMs: number, log: Logger, stopped: () => boolean): Promise<MemberServiceStatusResponse> {
  const client = new MemberClient({ endpoints: [address], security });
  try {
    return await retryJoinTarget(address, timeoutMs, log, stopped, () => client.status(address, 2_000));
  } finally {
    client.close();
  }
}

/** askToJoin makes the cluster add this member (through any member; it forwards to the leader). */
async function askToJoin(flags: Flags, via: string, security: Security, log: Logger): Promise<void> {
  const client = new MemberClient({ endpoints: [via], security, deadlineMs: 60_000, attemptTimeoutMs: 15_000 });
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

exitWith(runMember(process.argv.slice(2), { status: statusWithRetry, addSelf: askToJoin }, (opts) => CommandLogMember.start(opts)));
