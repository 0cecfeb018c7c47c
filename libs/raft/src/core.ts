/**
 * RaftCore is the consensus algorithm as a pure state machine: it is stepped by messages and
 * ticks, and hands out what to persist, send and apply as a {@link Ready}. It never reads a
 * clock, draws randomness other than through `config.randomInt`, or touches a socket or disk.
 *
 * Covered: leader election with randomized timeouts, pre-vote and check-quorum; pipelined,
 * batched log replication with fast back-off on conflicts; commitment by counting only
 * current-term entries; snapshots with chunked InstallSnapshot; one-at-a-time membership
 * changes that take effect on append; leadership transfer; ReadIndex reads.
 *
 * A role is data: becoming a role swaps in its step and tick functions.
 */
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { decodeConfChange, encodeConfChange, quorum } from './conf.ts';
import type {
  ConfChange,
  Entry,
  HardState,
  InitialState,
  Membership,
  Message,
  MessageType,
  NodeId,
  RaftConfig,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
} from './types.ts';
import { emptyMembership } from './types.ts';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | {
      ok: false;
      error: 'notLeader' | 'transferring' | 'confPending' | 'invalid';
      leader: NodeId | '';
      message: string;
    };

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | '';
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly snapshotIndex: number;
  readonly role: Role;
  readonly leader: NodeId | '';
  readonly membership: Membership;
}

/** Context value that marks a vote request sent because of a leadership transfer. */
const transferContext = 'transfer';
/** Largest number of committed entries handed out in one Ready. */
const maxApplyBatch = 8192;

const emptyBytes = new Uint8Array(0);

const messageDefaults = {
  logTerm: 0,
  index: 0,
  commit: 0,
  entries: [] as readonly Entry[],
  reject: false,
  rejectHint: 0,
  context: '',
  snapshotMeta: null,
  offset: 0,
  data: emptyBytes,
  done: false,
} satisfies Partial<Message>;

interface PendingRead {
  readonly context: string;
  readonly index: number;
  /** Who asked: this member, or a follower that forwarded the request. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

interface IncomingSnapshot {
  readonly from: NodeId;
  readonly term: number;
  readonly meta: NonNullable<Message['snapshotMeta']>;
  readonly chunks: Uint8Array[];
  received: number;
}

export class RaftCore {
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxMsgBytes: number;
  private readonly maxInflightMsgs: number;
  private readonly snapshotChunkBytes: number;
  private readonly randomInt: (n: number) => number;
  private readonly checkSnapshot: ((data: Uint8Array) => string | undefined) | undefined;

  private term: number;
  private vote: NodeId | '';
  private leader: NodeId | '' = '';
  private role: Role = 'follower';
  private readonly log: RaftLog;
  /** The latest snapshot this member holds (its own compaction or one installed from the leader). */
  private snapshot: Snapshot;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  // Leader state.
  private progress = new Map<NodeId, Progress>();
  private transferee: NodeId | '' = '';
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: { context: string; from: NodeId }[] = [];
  private broadcastPending = false;

  // Candidate state.
  private votes = new Map<NodeId, boolean>();

  // Follower state.
  private incoming: IncomingSnapshot | null = null;

  // Output not yet handed out.
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  /** A snapshot received from the leader that the driver must persist and restore. */
  private pendingSnapshot: Snapshot | null = null;
  private prevHard: HardState;
  private prevSoft: SoftState;

  private stepRole: (m: Message) => string | undefined = (m) => this.stepFollower(m);
  private tickRole: () => void = () => this.tickElection();

  constructor(config: RaftConfig, initial: InitialState) {
    if (config.id === '') throw new Error('raft config: id must not be empty');
    this.id = config.id;
    this.electionTicks = config.electionTicks ?? 10;
    this.heartbeatTicks = config.heartbeatTicks ?? 1;
    if (!(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks)) {
      throw new Error(`raft config: need 1 <= heartbeatTicks < electionTicks, got ${this.heartbeatTicks} and ${this.electionTicks}`);
    }
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxMsgBytes = config.maxMsgBytes ?? 1024 * 1024;
    this.maxInflightMsgs = config.maxInflightMsgs ?? 256;
    this.snapshotChunkBytes = config.snapshotChunkBytes ?? 512 * 1024;
    this.randomInt = config.randomInt;
    this.checkSnapshot = config.checkSnapshot;

    const hs = initial.hardState;
    this.log = new RaftLog(initial.snapshot.meta, initial.entries, hs.commit, initial.applied);
    this.snapshot = initial.snapshot;
    this.term = hs.term;
    this.vote = hs.vote;
    this.prevHard = hs;
    this.prevSoft = { leader: '', role: 'follower' };
    this.becomeFollower(this.term, '');
  }

  // ---------------------------------------------------------------------------------------
  // Public surface

  tick(): void {
    this.tickRole();
  }

  step(m: Message): string | undefined {
    const invalid = validateMessage(m, this.id);
    if (invalid !== undefined) return invalid;

    if (m.term > this.term) {
      const isVoteRequest = m.type === 'vote' || m.type === 'preVote';
      if (isVoteRequest && m.context !== transferContext && this.inLease() && (m.type === 'preVote' || this.checkQuorum)) {
        return `ignored ${m.type} from ${m.from} at term ${m.term}: a leader (${this.leader}) was heard from within the election timeout`;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // A pre-vote carries the term the candidate would use; it changes nobody's term.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        // Only a leader's message or a granted vote restarts the election timer: if every vote
        // request did, a candidate with a stale log and a fast clock could keep everyone else
        // from ever timing out.
        const elapsed = this.electionElapsed;
        this.becomeFollower(m.term, '');
        this.electionElapsed = elapsed;
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tell a stale leader about the newer term so it steps down (§5.1). Without this a
        // member whose term ran ahead while cut off, and whose own vote requests reach nobody,
        // would never rejoin.
        this.send({ type: 'appendResp', to: m.from, term: this.term });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, term: this.term, reject: true });
      }
      return `stale ${m.type} from ${m.from}: term ${m.term} < ${this.term}`;
    }

    if (m.type === 'vote' || m.type === 'preVote') return this.handleVoteRequest(m);
    return this.stepRole(m);
  }

  propose(data: Uint8Array): ProposeResult {
    if (data.length === 0) return this.refuse('invalid', 'a proposal must carry data (empty entries are reserved for leader no-ops)');
    return this.appendAsLeader('normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== 'leader') return this.refuse('notLeader', `${this.id} is not the leader`);
    const m = this.log.membership();
    if (this.log.lastConfIndex() > this.log.committed) {
      return this.refuse('confPending', `a membership change at index ${this.log.lastConfIndex()} is not committed yet`);
    }
    if (this.log.termAt(this.log.committed) !== this.term) {
      // A new leader must commit an entry of its own term before changing membership, or two
      // single-member changes from different terms could create disjoint majorities.
      return this.refuse('confPending', 'the leader has not yet committed an entry in its term');
    }
    if (cc.type === 'add' && m.voters.includes(cc.nodeId)) return this.refuse('invalid', `${cc.nodeId} is already a member`);
    if (cc.type === 'remove' && !m.voters.includes(cc.nodeId)) return this.refuse('invalid', `${cc.nodeId} is not a member`);
    if (cc.type === 'remove' && m.voters.length === 1) return this.refuse('invalid', 'cannot remove the last member');
    return this.appendAsLeader('conf', encodeConfChange(cc));
  }

  transferLeadership(to: NodeId): string | undefined {
    if (this.role !== 'leader') return `${this.id} is not the leader`;
    if (to === this.id) return `${this.id} is already the leader`;
    const pr = this.progress.get(to);
    if (pr === undefined) return `${to} is not a member`;
    this.transferee = to;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to, term: this.term });
    } else {
      this.sendAppend(to, true);
    }
    return undefined;
  }

  readIndex(context: string): string | undefined {
    if (this.role === 'leader') {
      this.leaderReadIndex(context, this.id);
      return undefined;
    }
    if (this.leader === '') return `${this.id} knows no leader to confirm a read with`;
    this.send({ type: 'readIndex', to: this.leader, term: this.term, context });
    return undefined;
  }

  campaign(): void {
    if (!this.isVoter(this.id) || this.role === 'leader') return;
    this.startElection(this.preVote ? 'preCandidate' : 'candidate', false);
  }

  hasReady(): boolean {
    this.flushBroadcast();
    return (
      this.msgs.length > 0 ||
      this.log.stableTo < this.log.lastIndex() ||
      this.pendingSnapshot !== null ||
      this.log.committed > this.log.applied ||
      this.readStates.length > 0 ||
      !sameHard(this.hardState(), this.prevHard) ||
      !sameSoft(this.softState(), this.prevSoft)
    );
  }

  ready(): Ready {
    this.flushBroadcast();
    const hard = this.hardState();
    const soft = this.softState();
    const hardChanged = !sameHard(hard, this.prevHard);
    const termVoteChanged = hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
    const entries = this.log.unstable();
    // After a snapshot from the leader, application resumes right after it.
    const applyFrom = Math.max(this.log.applied, this.pendingSnapshot?.meta.index ?? 0) + 1;
    const applyTo = Math.min(this.log.committed, applyFrom - 1 + maxApplyBatch);
    const committedEntries = applyTo >= applyFrom ? this.log.slice(applyFrom, applyTo + 1, Infinity) : [];
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? null : soft,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot: this.pendingSnapshot,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      mustSync: entries.length > 0 || termVoteChanged || this.pendingSnapshot !== null,
      sendFirst: this.role === 'leader' && !termVoteChanged && this.pendingSnapshot === null,
    };
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  advance(rd: Ready): void {
    if (rd.hardState !== null) this.prevHard = rd.hardState;
    if (rd.softState !== null) this.prevSoft = rd.softState;
    if (rd.snapshot !== null) {
      this.log.applied = Math.max(this.log.applied, rd.snapshot.meta.index);
      if (this.pendingSnapshot === rd.snapshot) this.pendingSnapshot = null;
    }
    const lastNew = rd.entries[rd.entries.length - 1];
    if (lastNew !== undefined && this.log.matchTerm(lastNew.index, lastNew.term)) {
      this.log.stableTo = Math.max(this.log.stableTo, lastNew.index);
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.applied = Math.max(this.log.applied, lastApplied.index);
    if (this.role === 'leader') {
      // The leader's own entries count toward a majority only once they are on its disk.
      const self = this.progress.get(this.id);
      if (self !== undefined) self.maybeUpdate(this.log.stableTo);
      if (this.maybeCommit()) this.broadcastPending = true;
    }
  }

  compact(index: number, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    if (index > this.log.applied) {
      throw new Error(`raft compact: index ${index} is beyond the applied index ${this.log.applied}`);
    }
    const term = this.log.termAt(index);
    if (term === undefined) throw new Error(`raft compact: no entry at ${index}`);
    const meta = { index, term, membership: this.log.membershipAt(index) };
    this.log.compact(meta);
    this.snapshot = { meta, data };
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      snapshotIndex: this.log.snapIndex,
      role: this.role,
      leader: this.leader,
      membership: this.log.membership(),
    };
  }

  /** snapshotHeld returns the latest snapshot this member holds (for the driver to persist after compact). */
  snapshotHeld(): Snapshot {
    return this.snapshot;
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  private becomeFollower(term: number, leader: NodeId | ''): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.role = 'follower';
    this.leader = leader;
    this.resetTimers();
    this.leaveLeadership();
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
  }

  private becomePreCandidate(): void {
    this.role = 'preCandidate';
    this.leader = '';
    this.votes = new Map();
    this.leaveLeadership();
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    this.term += 1;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = '';
    this.votes = new Map();
    this.resetTimers();
    this.leaveLeadership();
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.progress = new Map();
    this.syncProgress(this.log.lastIndex() + 1);
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickLeader();
    // The no-op lets the leader commit, and so learn the commit index of, earlier terms' entries.
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.term, kind: 'normal', data: emptyBytes }]);
    this.broadcastPending = true;
  }

  private leaveLeadership(): void {
    this.progress = new Map();
    this.transferee = '';
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    this.broadcastPending = false;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.randomInt(this.electionTicks);
  }

  // ---------------------------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.isVoter(this.id)) {
      this.startElection(this.preVote ? 'preCandidate' : 'candidate', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, '');
        return;
      }
      this.transferee = '';
    }
    for (const [id, pr] of this.progress) {
      if (id !== this.id && pr.state === 'snapshot' && ++pr.snapshotIdleTicks >= this.electionTicks) {
        pr.snapshotIdleTicks = 0;
        this.sendSnapshotChunk(id, pr);
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat('');
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const [id, pr] of this.progress) {
      if (id === this.id || pr.recentActive) active++;
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= quorum(this.log.membership().voters.length);
  }

  // ---------------------------------------------------------------------------------------
  // Elections

  private startElection(kind: 'preCandidate' | 'candidate', transfer: boolean): void {
    if (kind === 'preCandidate') this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = kind === 'preCandidate' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.tallyVotes() === 'won') return;
    for (const v of this.log.membership().voters) {
      if (v === this.id) continue;
      this.send({
        type: kind === 'preCandidate' ? 'preVote' : 'vote',
        to: v,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: transfer ? transferContext : '',
      });
    }
  }

  private handleVoteRequest(m: Message): string | undefined {
    const respType: MessageType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.leader === '') ||
      (m.type === 'preVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote grant answers with the candidate's prospective term so it can count it.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
    return undefined;
  }

  /** tallyVotes checks the election; on a win or loss it changes role. */
  private tallyVotes(): 'won' | 'lost' | 'pending' {
    const voters = this.log.membership().voters;
    const q = quorum(voters.length);
    let granted = 0;
    let rejected = 0;
    for (const v of voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    if (granted >= q) {
      if (this.role === 'preCandidate') this.startElection('candidate', false);
      else this.becomeLeader();
      return 'won';
    }
    if (rejected >= q) {
      this.becomeFollower(this.term, '');
      return 'lost';
    }
    return 'pending';
  }

  // ---------------------------------------------------------------------------------------
  // Step functions per role

  private stepFollower(m: Message): string | undefined {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return undefined;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleSnapshotChunk(m);
      case 'timeoutNow':
        if (!this.isVoter(this.id)) return `ignored timeoutNow from ${m.from}: ${this.id} is not a voter`;
        // A transfer skips pre-vote: the old leader asked for this election.
        this.startElection('candidate', true);
        return undefined;
      case 'readIndexResp':
        if (!m.reject) this.readStates.push({ index: m.index, context: m.context });
        return undefined;
      case 'readIndex':
        if (this.leader === '') return `no leader to forward a read index request from ${m.from} to`;
        this.send({ type: 'readIndex', to: this.leader, term: this.term, context: m.context });
        return undefined;
      default:
        return `ignored ${m.type} from ${m.from}: ${this.id} is a follower`;
    }
  }

  private stepCandidate(m: Message): string | undefined {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader exists in our term: follow it.
        this.becomeFollower(this.term, m.from);
        return this.stepFollower(m);
      case 'preVoteResp':
      case 'voteResp': {
        const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
        if (m.type !== expected) return `ignored ${m.type} from ${m.from} as ${this.role}`;
        // Pre-vote grants carry our prospective term; our own term otherwise.
        const expectedTerm = this.role === 'preCandidate' ? this.term + 1 : this.term;
        if (!m.reject && m.term !== expectedTerm) return `ignored stale ${m.type} from ${m.from}`;
        this.votes.set(m.from, !m.reject);
        this.tallyVotes();
        return undefined;
      }
      default:
        return `ignored ${m.type} from ${m.from}: ${this.id} is a ${this.role}`;
    }
  }

  private stepLeader(m: Message): string | undefined {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'readIndex':
        this.leaderReadIndex(m.context, m.from);
        return undefined;
      case 'appendResp':
        if (pr === undefined) return `ignored appendResp from non-member ${m.from}`;
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        return undefined;
      case 'heartbeatResp':
        if (pr === undefined) return `ignored heartbeatResp from non-member ${m.from}`;
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.isPaused()) pr.inflight.shift();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context !== '') this.ackRead(m.context, m.from);
        return undefined;
      case 'snapshotResp':
        if (pr === undefined) return `ignored snapshotResp from non-member ${m.from}`;
        pr.recentActive = true;
        if (pr.state !== 'snapshot' || m.index !== pr.snapshotIndex) return `ignored stale snapshotResp from ${m.from}`;
        if (m.reject) {
          pr.becomeProbe();
          this.sendAppend(m.from, true);
          return undefined;
        }
        pr.snapshotIdleTicks = 0;
        pr.snapshotOffset = m.offset;
        this.sendSnapshotChunk(m.from, pr);
        return undefined;
      default:
        return `ignored ${m.type} from ${m.from}: ${this.id} is the leader`;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Replication: follower side

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appendResp', to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const lastNew = m.index + m.entries.length;
      const conflict = m.entries.findIndex((e) => !this.log.matchTerm(e.index, e.term));
      if (conflict >= 0) this.log.append(m.entries.slice(conflict));
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.send({ type: 'appendResp', to: m.from, term: this.term, index: lastNew });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: 'appendResp',
      to: m.from,
      term: this.term,
      index: m.index,
      reject: true,
      rejectHint: hint,
      logTerm: this.log.termAt(hint) ?? 0,
    });
  }

  private handleHeartbeat(m: Message): void {
    // The leader caps the commit index at what it knows we have, so it is never beyond our log.
    if (m.commit <= this.log.lastIndex()) this.log.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', to: m.from, term: this.term, context: m.context });
  }

  private handleSnapshotChunk(m: Message): string | undefined {
    const meta = m.snapshotMeta;
    if (meta === null) return undefined;
    if (meta.index <= this.log.committed) {
      // Already have everything it covers: tell the leader where we are.
      this.incoming = null;
      this.send({ type: 'appendResp', to: m.from, term: this.term, index: this.log.committed });
      return undefined;
    }
    let inc = this.incoming;
    if (inc === null || inc.meta.index !== meta.index || inc.meta.term !== meta.term || inc.from !== m.from || inc.term !== m.term) {
      if (m.offset !== 0) {
        this.send({ type: 'snapshotResp', to: m.from, term: this.term, index: meta.index, offset: 0 });
        return undefined;
      }
      inc = { from: m.from, term: m.term, meta, chunks: [], received: 0 };
      this.incoming = inc;
    }
    if (m.offset !== inc.received) {
      // Duplicate or out of order: ask for the next byte we need.
      this.send({ type: 'snapshotResp', to: m.from, term: this.term, index: meta.index, offset: inc.received });
      return undefined;
    }
    inc.chunks.push(m.data);
    inc.received += m.data.length;
    if (!m.done) {
      this.send({ type: 'snapshotResp', to: m.from, term: this.term, index: meta.index, offset: inc.received });
      return undefined;
    }
    this.incoming = null;
    const data = concatBytes(inc.chunks, inc.received);
    const fault = this.checkSnapshot?.(data);
    if (fault !== undefined) {
      // Not a snapshot the state machine can restore: refuse it before it replaces the log, and
      // ask for it again from the start (a leader that sends a good one gets through).
      this.send({ type: 'snapshotResp', to: m.from, term: this.term, index: meta.index, offset: 0 });
      return `refused snapshot ${meta.index} from ${m.from}: ${fault}`;
    }
    this.restoreSnapshot({ meta, data });
    this.send({ type: 'appendResp', to: m.from, term: this.term, index: this.log.lastIndex() });
    return undefined;
  }

  private restoreSnapshot(snap: Snapshot): void {
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // Our log already holds the snapshot's last entry: keep the log, just commit up to it.
      this.log.commitTo(snap.meta.index);
      return;
    }
    this.log.restore(snap.meta);
    this.snapshot = snap;
    this.pendingSnapshot = snap;
  }

  // ---------------------------------------------------------------------------------------
  // Replication: leader side

  private appendAsLeader(kind: 'normal' | 'conf', data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return this.refuse('notLeader', `${this.id} is not the leader`);
    if (this.transferee !== '') return this.refuse('transferring', `leadership is being transferred to ${this.transferee}`);
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, kind, data }]);
    // A member added here is offered its own conf entry first, so the broadcast reaches it now.
    if (kind === 'conf') this.syncProgress(index);
    this.broadcastPending = true;
    return { ok: true, index, term: this.term };
  }

  private refuse(error: 'notLeader' | 'transferring' | 'confPending' | 'invalid', message: string): ProposeResult {
    return { ok: false, error, leader: this.leader, message };
  }

  /**
   * syncProgress makes the leader track exactly the voters of the membership in force (and
   * itself); members it did not track yet are probed from `nextIndex`.
   */
  private syncProgress(nextIndex: number): void {
    const voters = new Set(this.log.membership().voters);
    voters.add(this.id);
    for (const id of [...this.progress.keys()]) if (!voters.has(id)) this.progress.delete(id);
    for (const id of voters) {
      if (this.progress.has(id)) continue;
      const pr = new Progress(nextIndex, this.maxInflightMsgs);
      if (id === this.id) {
        pr.match = this.log.stableTo;
        pr.becomeReplicate();
      }
      this.progress.set(id, pr);
    }
  }

  private flushBroadcast(): void {
    if (!this.broadcastPending) return;
    this.broadcastPending = false;
    if (this.role !== 'leader') return;
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppendsWhileOpen(id);
    }
  }

  /** sendAppendsWhileOpen fills a follower's pipeline with whatever it has not been sent yet. */
  private sendAppendsWhileOpen(to: NodeId): void {
    while (this.sendAppend(to, false)) {
      const pr = this.progress.get(to);
      if (pr === undefined || pr.next > this.log.lastIndex()) break;
    }
  }

  /**
   * sendAppend sends the follower its next entries (or a snapshot if they are compacted).
   * With `sendIfEmpty` false nothing is sent when there are no entries. Returns whether
   * something was sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.termAt(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      this.startSnapshot(to, pr);
      return true;
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxMsgBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, term: this.term, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    if (last !== undefined) pr.sentEntries(last.index);
    else if (pr.state === 'probe') pr.probeSent = true;
    return true;
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    pr.becomeSnapshot(this.snapshot.meta.index);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.snapshot;
    if (pr.snapshotIndex !== snap.meta.index) {
      // Compacted again since the transfer began: start over with the newer snapshot.
      pr.becomeSnapshot(snap.meta.index);
    }
    const offset = Math.min(pr.snapshotOffset, snap.data.length);
    const end = Math.min(offset + this.snapshotChunkBytes, snap.data.length);
    this.send({
      type: 'snapshot',
      to,
      term: this.term,
      snapshotMeta: snap.meta,
      offset,
      data: snap.data.subarray(offset, end),
      done: end === snap.data.length,
    });
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    if (m.reject) {
      // Back off past the whole conflicting term at once, using both logs (fast back-off).
      const hint = m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
      if (pr.state === 'snapshot') return;
      if (pr.maybeDecrease(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        pr.next = Math.max(pr.match + 1, Math.min(m.index, hint + 1));
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppendsWhileOpen(m.from);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex) pr.becomeReplicate();
    if (this.maybeCommit()) {
      this.broadcastPending = true;
    }
    this.sendAppendsWhileOpen(m.from);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from, term: this.term });
    }
  }

  /**
   * maybeCommit advances the commit index to the highest index a majority holds, but only if
   * that entry is from the current term (§5.4.2: never commit an earlier term's entry by counting).
   */
  private maybeCommit(): boolean {
    const voters = this.log.membership().voters;
    if (voters.length === 0) return false;
    const matches = voters.map((v) => this.progress.get(v)?.match ?? 0).sort((a, b) => b - a);
    const candidate = matches[quorum(voters.length) - 1] ?? 0;
    if (candidate <= this.log.committed || this.log.termAt(candidate) !== this.term) return false;
    this.log.commitTo(candidate);
    this.onCommitAdvanced();
    return true;
  }

  private onCommitAdvanced(): void {
    // Reads waiting for this leader's first commit can now be served.
    if (this.readsAwaitingCommit.length > 0 && this.log.termAt(this.log.committed) === this.term) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.leaderReadIndex(r.context, r.from);
    }
    // A leader removed from the membership steps down once that removal is committed, and
    // hands over to the most up-to-date remaining voter so nobody waits for a timeout.
    if (!this.isVoter(this.id) && this.log.lastConfIndex() <= this.log.committed) {
      let best: NodeId | '' = '';
      let bestMatch = -1;
      for (const [id, pr] of this.progress) {
        if (id !== this.id && pr.match > bestMatch) {
          best = id;
          bestMatch = pr.match;
        }
      }
      // Make sure the successor has learned the removal is committed.
      this.broadcastHeartbeat('');
      if (best !== '' && bestMatch === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: best, term: this.term });
      this.becomeFollower(this.term, '');
    }
  }

  private broadcastHeartbeat(context: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({ type: 'heartbeat', to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), context });
    }
  }

  // ---------------------------------------------------------------------------------------
  // ReadIndex (dissertation §6.4)

  private leaderReadIndex(context: string, from: NodeId): void {
    if (this.log.termAt(this.log.committed) !== this.term) {
      this.readsAwaitingCommit.push({ context, from });
      return;
    }
    const read: PendingRead = { context, index: this.log.committed, from, acks: new Set([this.id]) };
    if (quorum(this.log.membership().voters.length) <= 1 && this.isVoter(this.id)) {
      this.releaseRead(read);
      return;
    }
    this.pendingReads.push(read);
    this.broadcastHeartbeat(context);
  }

  private ackRead(context: string, from: NodeId): void {
    const at = this.pendingReads.findIndex((r) => r.context === context);
    if (at < 0) return;
    const read = this.pendingReads[at]!;
    read.acks.add(from);
    const voters = this.log.membership().voters;
    const acked = voters.filter((v) => read.acks.has(v)).length;
    if (acked < quorum(voters.length)) return;
    // Leadership was confirmed after every earlier read was registered, so they are safe too.
    for (const r of this.pendingReads.splice(0, at + 1)) this.releaseRead(r);
  }

  private releaseRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, context: r.context });
    else this.send({ type: 'readIndexResp', to: r.from, term: this.term, index: r.index, context: r.context });
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private isVoter(id: NodeId): boolean {
    return this.log.membership().voters.includes(id);
  }

  /** inLease: a leader was heard from (or we are it) within the minimum election timeout. */
  private inLease(): boolean {
    return this.leader !== '' && this.electionElapsed < this.electionTicks;
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private send(partial: Partial<Message> & { type: MessageType; to: NodeId; term: number }): void {
    this.msgs.push({ ...messageDefaults, from: this.id, ...partial });
  }
}

/** bootstrapState is the initial durable state of a founding member: one conf entry per member. */
export function bootstrapState(members: readonly { id: NodeId; context: string }[]): InitialState {
  if (members.length === 0) throw new Error('bootstrap: at least one member is needed');
  const ids = new Set<NodeId>();
  const entries: Entry[] = members.map((m, i) => {
    if (m.id === '') throw new Error('bootstrap: member ids must not be empty');
    if (ids.has(m.id)) throw new Error(`bootstrap: member ${m.id} is listed twice`);
    ids.add(m.id);
    return { index: i + 1, term: 1, kind: 'conf', data: encodeConfChange({ type: 'add', nodeId: m.id, context: m.context }) };
  });
  return {
    hardState: { term: 1, vote: '', commit: entries.length },
    snapshot: { meta: { index: 0, term: 0, membership: emptyMembership }, data: emptyBytes },
    entries,
    applied: 0,
  };
}

/** joinState is the initial state of a member joining a running cluster: nothing at all. */
export function joinState(): InitialState {
  return {
    hardState: { term: 0, vote: '', commit: 0 },
    snapshot: { meta: { index: 0, term: 0, membership: emptyMembership }, data: emptyBytes },
    entries: [],
    applied: 0,
  };
}

/** newMessage builds a message with every field not given at its zero value. */
export function newMessage(partial: Partial<Message> & { type: MessageType; from: NodeId; to: NodeId; term: number }): Message {
  return { ...messageDefaults, ...partial };
}

const messageTypes: ReadonlySet<string> = new Set<MessageType>([
  'append', 'appendResp', 'heartbeat', 'heartbeatResp', 'preVote', 'preVoteResp', 'vote', 'voteResp',
  'snapshot', 'snapshotResp', 'timeoutNow', 'readIndex', 'readIndexResp',
]);

/** confFault says why a conf entry's data is not a membership change, or undefined when it is one. */
function confFault(data: Uint8Array): string | undefined {
  try {
    decodeConfChange(data);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** validateMessage returns why a message is malformed or misaddressed, or undefined if it is fine. */
function validateMessage(m: Message, self: NodeId): string | undefined {
  if (!messageTypes.has(m.type)) return `malformed message: unknown type ${JSON.stringify(m.type)}`;
  if (m.to !== self) return `misaddressed ${m.type}: to ${JSON.stringify(m.to)}, this member is ${self}`;
  if (m.from === '' || m.from === self) return `malformed ${m.type}: bad sender ${JSON.stringify(m.from)}`;
  if (!isIndex(m.term) || !isIndex(m.index) || !isIndex(m.logTerm) || !isIndex(m.commit) || !isIndex(m.rejectHint) || !isIndex(m.offset)) {
    return `malformed ${m.type} from ${m.from}: a term or index is not a non-negative integer`;
  }
  if (m.term === 0) return `malformed ${m.type} from ${m.from}: term 0`;
  let expected = m.index + 1;
  for (const e of m.entries) {
    if (e.index !== expected || !isIndex(e.term) || e.term > m.term || e.term < m.logTerm || (e.kind !== 'normal' && e.kind !== 'conf')) {
      return `malformed ${m.type} from ${m.from}: entry ${e.index} out of sequence or with a bad term or kind`;
    }
    // A membership change the log could not read would stop this member when it is appended.
    const conf = e.kind === 'conf' ? confFault(e.data) : undefined;
    if (conf !== undefined) return `malformed ${m.type} from ${m.from}: entry ${e.index}: ${conf}`;
    expected++;
  }
  if (m.type === 'snapshot' && (m.snapshotMeta === null || !isIndex(m.snapshotMeta.index) || m.snapshotMeta.index === 0)) {
    return `malformed snapshot from ${m.from}: missing or empty snapshot metadata`;
  }
  return undefined;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
