/**
 * The options both kinds of member take (ControlPlane, control-plane.ts; CommandLogMember of the
 * Raft-level tests, test/support/command-log-member/member.ts, through
 * @tugboat/control/member-options), and the RaftNode options they make of them.
 */
import type { Logger } from 'pino';
import type { Security } from '@tugboat/proto';
import type { RaftNodeOptions, StateMachine } from '@tugboat/raft';

export interface RaftMemberOptions {
  readonly name: string;
  readonly clusterId: string;
  /** LevelDB directory of the Raft log. */
  readonly raftDir: string;
  /** Where to listen for Raft traffic, and where the others reach it. */
  readonly listenPeer: string;
  readonly advertisePeer: string;
  /** Where to serve the API, and where clients and the other members reach it. */
  readonly listenApi: string;
  readonly advertiseApi: string;
  /** Founding members (new cluster), name and peer address; omitted on restart and when joining. */
  readonly bootstrap?: readonly { readonly id: string; readonly address: string }[];
  /** Current members' peer addresses, for a member that joins a running cluster. */
  readonly peers?: Readonly<Record<string, string>>;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Snapshot and compact the Raft log every this many applied entries. Default 10,000. */
  readonly snapshotEntries?: number;
  readonly logger: Logger;
  /** How the API and Raft traffic are served and the other members dialled. */
  readonly security: Security;
}

/** raftNodeOptions are the RaftNode options of a member with `stateMachine`. */
export function raftNodeOptions(opts: RaftMemberOptions, stateMachine: StateMachine): RaftNodeOptions {
  return {
    id: opts.name,
    clusterId: opts.clusterId,
    dataDir: opts.raftDir,
    stateMachine,
    listen: opts.listenPeer,
    tickMs: opts.tickMs,
    electionTicks: opts.electionTicks,
    logger: opts.logger,
    transportOptions: { security: opts.security },
    ...(opts.bootstrap === undefined ? {} : { bootstrap: opts.bootstrap }),
    ...(opts.peers === undefined ? {} : { peers: opts.peers }),
    ...(opts.snapshotEntries === undefined ? {} : { snapshotEntries: opts.snapshotEntries }),
  };
}
