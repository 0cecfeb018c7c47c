/**
 * Types shared by the Raft core, its driver and the simulator.
 *
 * Indexes and terms are plain numbers (safe up to 2^53). A member is named by a string id.
 * Index 0 / term 0 mean "nothing": the log starts at index 1.
 */

/** NodeId is the stable name of a Raft member, e.g. "c1". Never empty. */
export type NodeId = string;

/** EntryKind says how an entry's data is interpreted: application command or membership change. */
export type EntryKind = 'normal' | 'conf';

/**
 * Entry is one log slot. A `normal` entry with empty data is the no-op a new leader appends;
 * the application never sees those. A `conf` entry's data is an encoded {@link ConfChange}.
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** ConfChange adds or removes one voting member (one at a time, Raft dissertation §4.1). */
export interface ConfChange {
  readonly type: 'add' | 'remove';
  readonly nodeId: NodeId;
  /** Opaque to the core; the driver stores the member's peer address here. */
  readonly context: string;
}

/** Membership is the set of voters in force, with the context (address) each was added with. */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly contexts: Readonly<Record<NodeId, string>>;
}

/** HardState must be durable before any message that depends on it leaves the member. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | '';
  readonly commit: number;
}

/** SnapshotMeta names the last entry a snapshot covers and the membership in force at it. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type MessageType =
  | 'append'
  | 'appendResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'preVote'
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'snapshot'
  | 'snapshotResp'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp';

/**
 * Message is the one wire shape between members; which fields matter depends on `type`:
 * - append: `logTerm`/`index` name the entry before `entries`; `commit` is the leader's commit.
 * - appendResp: `index` is the follower's last matching index on success; on `reject`,
 *   `rejectHint` is the highest index the follower may share with the leader and `logTerm` its term.
 * - heartbeat: `commit` (capped at the follower's known match), `context` echoes a ReadIndex round.
 * - preVote/vote: `index`/`logTerm` describe the candidate's last entry; `context` is
 *   "transfer" for a campaign started by leadership transfer.
 * - preVoteResp/voteResp: `reject`.
 * - snapshot: `snapshot.meta`, `offset` into the snapshot bytes, `data` chunk, `done` on the last.
 * - snapshotResp: `index` is the snapshot index, `offset` the next byte wanted, `reject` to abort.
 * - timeoutNow: campaign now (leadership transfer).
 * - readIndex: follower asks the leader for a read index; `context` identifies the request.
 * - readIndexResp: `index` is the read index for `context`; `reject` if the leader cannot serve it.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly commit: number;
  readonly entries: readonly Entry[];
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: string;
  readonly snapshotMeta: SnapshotMeta | null;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** SoftState is volatile and need not be persisted: who leads, and what this member is. */
export interface SoftState {
  readonly leader: NodeId | '';
  readonly role: Role;
}

/** ReadState releases a ReadIndex request: once `index` is applied, a read for `context` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * Ready is one batch of work the core hands its driver. The driver must, in this order:
 *  1. persist `snapshot` (if any), then `entries` (first deleting any stored entries with index
 *     >= entries[0].index), then `hardState` (if any), synced to disk when `mustSync`;
 *  2. send `messages`, after step 1 has completed, or, when `sendFirst`, before or while
 *     persisting (a leader's appends travel while it writes its own copy: Raft dissertation
 *     §10.2.1; the core counts the leader's own entries toward commitment only at `advance`);
 *  3. apply `committedEntries` in order (and restore `snapshot` into the state machine first, if any);
 *  4. call `advance(ready)`, once step 1 is durable.
 * Nothing in a later Ready may be acted on before `advance` for this one.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** True when `entries` or `hardState` term/vote changed and must be fsynced. */
  readonly mustSync: boolean;
  /**
   * True when `messages` may leave before step 1 is durable: they are a leader's, and this Ready
   * changes neither term nor vote (nothing they carry depends on what is being written).
   */
  readonly sendFirst: boolean;
}

/**
 * RaftConfig configures one member. Times are in ticks; the driver decides how long a tick is.
 */
export interface RaftConfig {
  readonly id: NodeId;
  /** Election timeout is drawn from [electionTicks, 2 * electionTicks). Default 10. */
  readonly electionTicks?: number;
  /** Leader heartbeat interval. Default 1. Must be < electionTicks. */
  readonly heartbeatTicks?: number;
  /** Pre-vote (dissertation §9.6): do not raise terms for an election that cannot win. Default true. */
  readonly preVote?: boolean;
  /** Check-quorum: a leader steps down without a recent majority; votes are ignored within a lease. Default true. */
  readonly checkQuorum?: boolean;
  /** Largest total entry payload in one append message, bytes. Default 1 MiB. */
  readonly maxMsgBytes?: number;
  /** Append messages in flight to one follower before waiting for acks. Default 256. */
  readonly maxInflightMsgs?: number;
  /** Snapshot bytes per InstallSnapshot chunk. Default 512 KiB. */
  readonly snapshotChunkBytes?: number;
  /** Random integer source in [0, n); seeded in simulation. */
  readonly randomInt: (n: number) => number;
  /** checkSnapshot says why a snapshot received from the leader is not one the state machine
   *  can restore (undefined: it can); such a snapshot is refused before it replaces the log.
   *  Default: every snapshot is taken. */
  readonly checkSnapshot?: (data: Uint8Array) => string | undefined;
}

/** InitialState is what a member restarts from: its durable state as the driver loaded it. */
export interface InitialState {
  readonly hardState: HardState;
  /** Latest snapshot (index 0 and empty data when there is none) */
  readonly snapshot: Snapshot;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Highest index the application has already applied (>= snapshot index). */
  readonly applied: number;
}

export const emptyMembership: Membership = { voters: [], contexts: {} };
