/**
 * Deterministic simulation of a Raft cluster (TigerBeetle VOPR / FoundationDB style).
 *
 * A run is a pure function of its options: one seeded generator per concern (profile,
 * network, faults, workload, and one per member incarnation for `RaftConfig.randomInt`), and
 * virtual time that is a step counter. Each step: faults (crash, restart, pause, partition,
 * heal, shut down removed members), workload (proposals, ReadIndex reads, membership changes,
 * leadership transfers, all aimed at whoever believes it leads), message deliveries due at
 * this step, and ticks of the members whose (skewed) clock ticks now.
 *
 * Every member follows the Ready contract step by step (persist in one batch, synced only when
 * `mustSync`; send, before persisting when `sendFirst`; apply; advance), and an armed crash can land between any two of those
 * steps, losing the unsynced batches. A restarted member is rebuilt from its durable state
 * alone. After every event the member's observable state is checked (see SafetyChecker and
 * `observe`); the first violation ends the run with a report. After the fault phase comes the
 * liveness phase: partitions healed, voters restarted, faults off; within
 * LIVENESS_ELECTION_TIMEOUTS election timeouts a new proposal must be applied on every voter.
 */
import type { ConfChange, InitialState, Membership, Message, NodeId, RaftConfig, Ready, Role } from '@tugboat/raft';
import { bootstrapState, decodeConfChange, joinState } from '@tugboat/raft';
import { SafetyChecker, SimViolation, isSimViolation, type Property } from './checker.ts';
import { realCore, type CoreFactory, type SimCore } from './core-api.ts';
import { LogState, SimDisk, membershipAfter } from './disk.ts';
import { SimNetwork, type NetworkFaults } from './network.ts';
import { Rng } from './prng.ts';
import { describeProfile, drawProfile, type FaultProfile, type PartitionKind } from './profile.ts';
import { SimStateMachine, commandBytes } from './state-machine.ts';
import { Trace } from './trace.ts';

/** DEFAULT_STEPS is the length of the fault phase, in steps (10 steps = one member tick). */
export const DEFAULT_STEPS = 20_000;
/** Voters never drop below this many through simulated membership changes. */
export const VOTERS_MIN = 3;
/** The liveness phase allows this many election timeouts for a new proposal to reach every voter. */
export const LIVENESS_ELECTION_TIMEOUTS = 50;
/** Like a real driver, the workload stops proposing while a leader has this many entries uncommitted. */
export const UNCOMMITTED_ENTRIES_MAX = 64;
/** A member producing more Readies than this for one event is considered stuck. */
const READIES_PER_EVENT_MAX = 10_000;
/** Network faults of the liveness phase: prompt, lossless delivery. */
const CALM_NETWORK: NetworkFaults = { delayMinSteps: 1, delayMaxSteps: 3, dropRate: 0, duplicateRate: 0 };

/** SimOptions define a run; a run is a pure function of them. */
export interface SimOptions {
  readonly seed: number;
  /** Founding members: 3 or 5. Default 3. */
  readonly nodes?: number;
  /** Steps of the fault phase. Default {@link DEFAULT_STEPS}. */
  readonly steps?: number;
  /** Replaces parts of the profile the seed draws (scenario-style tests). */
  readonly profile?: Partial<FaultProfile>;
  /** Builds each member's core; default the real `RaftCore`. */
  readonly coreFactory?: CoreFactory;
  /** Sees every trace line as it is recorded. */
  readonly onTrace?: (line: string) => void;
}

export interface ViolationReport {
  readonly property: Property;
  readonly step: number;
  readonly message: string;
  /** The latest trace lines, oldest first, ending with the violation. */
  readonly traceTail: readonly string[];
}

export interface SimStats {
  messagesSent: number;
  messagesDelivered: number;
  messagesLost: number;
  leadersElected: number;
  maxTerm: number;
  crashes: number;
  restarts: number;
  partitions: number;
  proposalsAccepted: number;
  commandsCommitted: number;
  appliedMax: number;
  confChangesProposed: number;
  /** Membership changes committed (the bootstrap configuration not counted). */
  confChangesCommitted: number;
  transfersStarted: number;
  snapshotsInstalled: number;
  compactions: number;
  readsReleased: number;
  /** Steps the liveness phase needed (-1 if it never converged). */
  livenessSteps: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly ok: boolean;
  readonly violation: ViolationReport | null;
  /** SHA-256 of the whole trace: equal for two runs of the same options. */
  readonly traceHash: string;
  readonly traceLines: number;
  readonly stats: SimStats;
  readonly profile: FaultProfile;
}

type MemberState = 'running' | 'down' | 'stopped';
type CrashPhase = 'persist' | 'send' | 'apply';
const CRASH_PHASES: readonly CrashPhase[] = ['persist', 'send', 'apply'];
const PARTITION_KINDS: readonly PartitionKind[] = ['split', 'isolate', 'oneWay'];

/** SimMember is one simulated process: a core, its disk, its state machine, and what was last observed of it. */
class SimMember {
  readonly id: NodeId;
  /** The member ticks at steps where (step + tickPhase) % tickPeriod === 0. */
  readonly tickPeriod: number;
  readonly tickPhase: number;
  state: MemberState = 'down';
  /** While now < pausedUntilStep the process is frozen: no ticks, deliveries wait. */
  pausedUntilStep = -1;
  incarnation = 0;
  core: SimCore | null = null;
  readonly disk: SimDisk;
  sm = new SimStateMachine();
  restartAtStep = -1;
  stopAtStep = -1;
  /** Armed crash: fires inside this member's next Ready, at `phase`, after `pick` mod n items. */
  pendingCrash: { phase: CrashPhase; pick: number } | null = null;
  role: Role = 'follower';
  term = 0;
  commit = 0;
  coreApplied = 0;
  lastIndex = 0;
  voters: readonly NodeId[] = [];

  constructor(id: NodeId, tickPeriod: number, tickPhase: number, disk: SimDisk) {
    this.id = id;
    this.tickPeriod = tickPeriod;
    this.tickPhase = tickPhase;
    this.disk = disk;
  }
}

/** runSimulation runs one seed and reports the first violated property, if any. */
export function runSimulation(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  sim.run();
  return sim.result();
}

class Simulation {
  private readonly seed: number;
  private readonly nodes: number;
  private readonly steps: number;
  private readonly profile: FaultProfile;
  private readonly coreFactory: CoreFactory;
  private readonly trace: Trace;
  private readonly checker = new SafetyChecker();
  private readonly network: SimNetwork;
  private readonly faultRng: Rng;
  private readonly workRng: Rng;
  private readonly members: SimMember[] = [];
  private readonly byId = new Map<NodeId, SimMember>();
  private readonly idsMax: number;
  private readonly votersMax: number;
  private now = 0;
  private faultsOn = true;
  private partitionEndStep = -1;
  private committedMembership: Membership = { voters: [], contexts: {} };
  private nextCommand = 0;
  private nextRead = 0;
  private readonly readRequests = new Map<string, number>();
  private violation: ViolationReport | null = null;
  private readonly stats: SimStats = {
    messagesSent: 0,
    messagesDelivered: 0,
    messagesLost: 0,
    leadersElected: 0,
    maxTerm: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    proposalsAccepted: 0,
    commandsCommitted: 0,
    appliedMax: 0,
    confChangesProposed: 0,
    confChangesCommitted: 0,
    transfersStarted: 0,
    snapshotsInstalled: 0,
    compactions: 0,
    readsReleased: 0,
    livenessSteps: -1,
  };

  constructor(o: SimOptions) {
    this.seed = o.seed;
    this.nodes = o.nodes ?? 3;
    if (!Number.isInteger(this.nodes) || this.nodes < VOTERS_MIN || this.nodes > 9) {
      throw new Error(`nodes must be an integer in [${VOTERS_MIN}, 9], got ${o.nodes}`);
    }
    this.steps = o.steps ?? DEFAULT_STEPS;
    if (!Number.isInteger(this.steps) || this.steps < 0) throw new Error(`steps must be a non-negative integer, got ${o.steps}`);
    this.profile = { ...drawProfile(this.seed, this.nodes), ...o.profile };
    this.coreFactory = o.coreFactory ?? realCore;
    this.trace = new Trace(o.onTrace ?? null);
    this.network = new SimNetwork(Rng.forStream(this.seed, 'network'), this.profile);
    this.faultRng = Rng.forStream(this.seed, 'faults');
    this.workRng = Rng.forStream(this.seed, 'workload');
    this.idsMax = this.nodes + 4;
    this.votersMax = this.nodes + 1;
  }

  run(): void {
    try {
      this.trace.add(`seed=${this.seed} nodes=${this.nodes} steps=${this.steps} ${describeProfile(this.profile)}`);
      const founders: { id: NodeId; context: string }[] = [];
      for (let i = 1; i <= this.nodes; i++) founders.push({ id: `n${i}`, context: `addr-n${i}` });
      const boot = bootstrapState(founders);
      for (const f of founders) {
        const log = new LogState(boot.hardState, boot.snapshot, [...boot.entries]);
        this.committedMembership = log.membershipAt(boot.hardState.commit);
        this.start(this.addMember(f.id, log), 'boot');
      }
      for (this.now = 0; this.now < this.steps; this.now++) {
        this.faultStep();
        this.workloadStep();
        this.deliverStep();
        this.tickStep();
      }
      this.livenessPhase();
    } catch (e) {
      this.fail(e);
    }
  }

  result(): SimResult {
    this.stats.appliedMax = this.checker.appliedMax;
    return {
      seed: this.seed,
      nodes: this.nodes,
      steps: this.steps,
      ok: this.violation === null,
      violation: this.violation,
      traceHash: this.trace.sha256(),
      traceLines: this.trace.lines,
      stats: this.stats,
      profile: this.profile,
    };
  }

  private fail(e: unknown): void {
    const property: Property = isSimViolation(e) ? e.property : 'exception';
    let message: string;
    if (isSimViolation(e)) message = e.message.slice(property.length + 2);
    else if (e instanceof Error) message = `${e.message}\n${(e.stack ?? '').split('\n').slice(1, 8).join('\n')}`;
    else message = String(e);
    this.trace.add(`${this.now} VIOLATION ${property}: ${message.split('\n')[0]}`);
    this.violation = { property, step: this.now, message, traceTail: this.trace.tail() };
  }

  // ------------------------------------------------------------------------------------------
  // Members: creation, start, crash, stop.

  private addMember(id: NodeId, log: LogState): SimMember {
    const p = this.profile;
    const period = Math.max(2, p.tickSteps + this.faultRng.range(-p.clockSkewSteps, p.clockSkewSteps));
    const m = new SimMember(id, period, this.faultRng.int(period), new SimDisk(log));
    this.members.push(m);
    this.byId.set(id, m);
    return m;
  }

  private config(m: SimMember): RaftConfig {
    const rng = Rng.forStream(this.seed, `member:${m.id}:${m.incarnation}`);
    const p = this.profile;
    return {
      id: m.id,
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      maxMsgBytes: p.maxMsgBytes,
      maxInflightMsgs: p.maxInflightMsgs,
      snapshotChunkBytes: p.snapshotChunkBytes,
      randomInt: (n) => rng.int(n),
    };
  }

  /** start boots a member from its durable state: a new core and a state machine rebuilt from the snapshot. */
  private start(m: SimMember, why: string): void {
    m.incarnation++;
    const init: InitialState = m.disk.initialState();
    const sm = new SimStateMachine();
    const snap = init.snapshot;
    if (snap.meta.index > 0) {
      this.restoreInto(m.id, sm, snap.data, snap.meta.index, snap.meta.term);
    }
    m.sm = sm;
    m.core = this.coreFactory(this.config(m), init);
    m.state = 'running';
    m.restartAtStep = -1;
    m.pendingCrash = null;
    const st = m.core.status();
    m.role = st.role;
    m.term = st.term;
    m.commit = st.commit;
    m.coreApplied = st.applied;
    m.voters = st.membership.voters;
    this.trace.add(
      `${this.now} ${m.id} start#${m.incarnation} ${why} tick=${m.tickPeriod} t${st.term} v${st.vote || '-'} c${st.commit} s${snap.meta.index} last${st.lastIndex}`,
    );
    this.checker.recordCommit(m.id, m.disk.written, snap.meta.index, st.commit, st.term);
    this.drain(m, 'start');
  }

  private restoreInto(id: NodeId, sm: SimStateMachine, data: Uint8Array, index: number, term: number): void {
    try {
      sm.restore(data);
    } catch (e) {
      throw new SimViolation('state-machine-safety', `${id} got a malformed snapshot at ${index}: ${(e as Error).message}`);
    }
    if (sm.applied !== index || sm.appliedTerm !== term) {
      throw new SimViolation('state-machine-safety', `${id} snapshot meta says ${index}/${term} but its data is at ${sm.applied}/${sm.appliedTerm}`);
    }
    this.checker.checkStateAt(id, index, term, sm.h1, sm.h2);
  }

  private crash(m: SimMember, how: string): void {
    const unsynced = m.disk.unsyncedBatches();
    const keep = this.faultRng.int(unsynced + 1);
    m.disk.crash(keep);
    m.core = null;
    m.state = 'down';
    m.pendingCrash = null;
    m.pausedUntilStep = -1;
    m.role = 'follower';
    const p = this.profile;
    m.restartAtStep = this.now + this.faultRng.range(p.restartStepsMin, p.restartStepsMax);
    this.stats.crashes++;
    this.trace.add(`${this.now} ${m.id} crash ${how} kept=${keep}/${unsynced} restart@${m.restartAtStep}`);
  }

  private stop(m: SimMember): void {
    m.disk.sync();
    m.core = null;
    m.state = 'stopped';
    m.role = 'follower';
    m.stopAtStep = -1;
    m.restartAtStep = -1;
    this.trace.add(`${this.now} ${m.id} stop`);
  }

  /** isNeeded: a voter of the committed membership, or of the membership some running leader has appended. */
  private isNeeded(id: NodeId): boolean {
    if (this.committedMembership.voters.includes(id)) return true;
    for (const m of this.members) {
      if (m.state === 'running' && m.role === 'leader' && m.voters.includes(id)) return true;
    }
    return false;
  }

  /** running answers the members that are up and not frozen (so can take requests). */
  private running(): SimMember[] {
    return this.members.filter((m) => m.state === 'running' && m.pausedUntilStep <= this.now);
  }

  private leaders(): SimMember[] {
    return this.members.filter((m) => m.state === 'running' && m.pausedUntilStep <= this.now && m.role === 'leader');
  }

  /** currentLeader is the running leader of the highest term, if any. */
  private currentLeader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members) {
      if (m.state === 'running' && m.pausedUntilStep <= this.now && m.role === 'leader' && (best === undefined || m.term > best.term)) {
        best = m;
      }
    }
    return best;
  }

  // ------------------------------------------------------------------------------------------
  // The Ready loop, with crash points and the checks that ride on it.

  private drain(m: SimMember, cause: string): void {
    let readies = 0;
    while (m.state === 'running' && m.core!.hasReady()) {
      if (++readies > READIES_PER_EVENT_MAX) {
        throw new SimViolation('ready-contract', `${m.id} still has a Ready after ${READIES_PER_EVENT_MAX} in one event`);
      }
      const rd = m.core!.ready();
      this.handleReady(m, rd, cause);
      if (m.state === 'running') this.maybeCompact(m);
    }
    if (m.state === 'running') this.observe(m);
  }

  private handleReady(m: SimMember, rd: Ready, cause: string): void {
    const core = m.core!;
    const w = m.disk.written;
    this.trace.add(this.formatReady(m, rd, cause));
    const hs = rd.hardState;
    const termVoteChanged = hs !== null && (hs.term !== w.hardState.term || hs.vote !== w.hardState.vote);
    if ((rd.entries.length > 0 || termVoteChanged) && !rd.mustSync) {
      throw new SimViolation('ready-contract', `${m.id} Ready has ${rd.entries.length} entries / term-vote change but mustSync is false`);
    }
    if (hs !== null) {
      if (hs.term < w.hardState.term) throw new SimViolation('ready-contract', `${m.id} term went back from ${w.hardState.term} to ${hs.term}`);
      if (hs.commit < w.hardState.commit) {
        throw new SimViolation('monotonic-commit', `${m.id} hard state commit went back from ${w.hardState.commit} to ${hs.commit}`);
      }
    }
    const crashAt = m.pendingCrash;
    // 2, early: a leader's messages leave before its own write (sendFirst), checked against what
    // is durable before it; a crash may land after any of them, before anything is written.
    if (rd.sendFirst && !this.send(m, rd, crashAt)) return;
    if (crashAt !== null && crashAt.phase === 'persist') {
      this.crash(m, 'before-persist');
      return;
    }

    // 1. Persist snapshot, entries, hard state: one atomic batch, synced when mustSync.
    const err = m.disk.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState }, rd.mustSync);
    if (err !== undefined) throw new SimViolation('ready-contract', `${m.id}: ${err}`);
    const first = rd.entries[0];
    if (first !== undefined) {
      const prevTerm = m.disk.written.termAt(first.index - 1);
      if (prevTerm === undefined) throw new SimViolation('ready-contract', `${m.id} wrote entry ${first.index} with nothing before it`);
      this.checker.checkWritten(m.id, rd.entries, prevTerm);
    }

    // 2. Send.
    if (!rd.sendFirst && !this.send(m, rd, crashAt)) return;

    // 3. Apply: snapshot first, then committed entries.
    if (rd.snapshot !== null) {
      const meta = rd.snapshot.meta;
      if (meta.index < m.sm.applied) {
        throw new SimViolation('monotonic-apply', `${m.id} got a snapshot at ${meta.index} having applied ${m.sm.applied}`);
      }
      const sm = new SimStateMachine();
      this.restoreInto(m.id, sm, rd.snapshot.data, meta.index, meta.term);
      m.sm = sm;
      this.stats.snapshotsInstalled++;
    }
    const applyCount =
      crashAt !== null && crashAt.phase === 'apply' ? crashAt.pick % (rd.committedEntries.length + 1) : rd.committedEntries.length;
    for (let i = 0; i < applyCount; i++) {
      const e = rd.committedEntries[i]!;
      if (e.index !== m.sm.applied + 1) {
        throw new SimViolation('ready-contract', `${m.id} committed entry ${e.index} after applied ${m.sm.applied}`);
      }
      const logTerm = m.disk.written.termAt(e.index);
      if (logTerm !== undefined && logTerm !== e.term) {
        throw new SimViolation('ready-contract', `${m.id} committed entry ${e.index}/${e.term} but its log has term ${logTerm} there`);
      }
      m.sm.apply(e);
      if (this.checker.recordApply(m.id, e, m.sm.h1, m.sm.h2)) this.onFirstApply(e);
    }
    if (crashAt !== null && crashAt.phase === 'apply') {
      this.crash(m, `after-apply-${applyCount}/${rd.committedEntries.length}`);
      return;
    }

    // Read states: a read index must cover everything committed before the request.
    for (const rs of rd.readStates) {
      this.stats.readsReleased++;
      const minIndex = this.readRequests.get(rs.context);
      if (minIndex !== undefined && rs.index < minIndex) {
        throw new SimViolation('read-index', `${m.id} read ${rs.context} released at ${rs.index}, but ${minIndex} was committed before it was asked`);
      }
      const commitKnown = Math.max(this.checker.commitObservedMax, m.commit, hs?.commit ?? 0);
      if (rs.index > commitKnown) {
        throw new SimViolation('read-index', `${m.id} read ${rs.context} released at ${rs.index}, beyond any commit index (${commitKnown})`);
      }
      this.readRequests.delete(rs.context);
    }

    // 4. Advance.
    core.advance(rd);
  }

  /** send sends a Ready's messages (all, or up to an armed send crash); false when the member crashed. */
  private send(m: SimMember, rd: Ready, crashAt: SimMember['pendingCrash']): boolean {
    const durable = m.disk.durable;
    const sendCount = crashAt !== null && crashAt.phase === 'send' ? crashAt.pick % (rd.messages.length + 1) : rd.messages.length;
    for (let i = 0; i < sendCount; i++) {
      const msg = rd.messages[i]!;
      this.checkOutgoing(m, msg, durable);
      this.stats.messagesSent++;
      const outcome = this.network.send(msg, this.now);
      if (outcome === 'dropped' || outcome === 'cut') {
        this.stats.messagesLost++;
        this.trace.add(`${this.now} ${formatMessage(msg)} ${outcome}`);
      }
    }
    if (crashAt !== null && crashAt.phase === 'send') {
      this.crash(m, `after-send-${sendCount}/${rd.messages.length}`);
      return false;
    }
    return true;
  }

  /** checkOutgoing: nothing leaves before the state it depends on is durable. */
  private checkOutgoing(m: SimMember, msg: Message, d: LogState): void {
    if (msg.from !== m.id) throw new SimViolation('ready-contract', `${m.id} sent a message from ${msg.from}`);
    if (msg.type === 'preVote' || msg.type === 'preVoteResp') return;
    if (msg.term > d.hardState.term) {
      throw new SimViolation('persist-before-send', `${m.id} sent ${msg.type} at term ${msg.term} with durable term ${d.hardState.term}`);
    }
    if (msg.type === 'voteResp' && !msg.reject && (d.hardState.vote !== msg.to || d.hardState.term !== msg.term)) {
      throw new SimViolation(
        'persist-before-send',
        `${m.id} granted its vote to ${msg.to} in term ${msg.term}, durable vote ${d.hardState.vote || '-'} in term ${d.hardState.term}`,
      );
    }
    if (msg.type === 'appendResp' && !msg.reject && msg.index > d.lastIndex()) {
      throw new SimViolation('persist-before-send', `${m.id} acknowledged index ${msg.index} with durable log ending at ${d.lastIndex()}`);
    }
  }

  private maybeCompact(m: SimMember): void {
    const w = m.disk.written;
    const applied = m.sm.applied;
    if (applied - w.snapIndex() < this.profile.compactEveryEntries) return;
    const term = w.termAt(applied);
    if (term === undefined) throw new SimViolation('driver-view', `${m.id} applied ${applied} but its log ends at ${w.lastIndex()}`);
    const data = m.sm.snapshot();
    m.core!.compact(applied, data);
    m.disk.compact({ meta: { index: applied, term, membership: w.membershipAt(applied) }, data });
    this.stats.compactions++;
    this.trace.add(`${this.now} ${m.id} compact ${applied}/${term}`);
  }

  /** observe checks what a member reports after an event against what the simulator knows. */
  private observe(m: SimMember): void {
    const st = m.core!.status();
    const w = m.disk.written;
    if (st.lastIndex !== w.lastIndex() || st.snapshotIndex !== w.snapIndex()) {
      throw new SimViolation(
        'driver-view',
        `${m.id} core log is (${st.snapshotIndex}, ${st.lastIndex}], stored log is (${w.snapIndex()}, ${w.lastIndex()}]`,
      );
    }
    if (st.term !== w.hardState.term || st.vote !== w.hardState.vote) {
      throw new SimViolation(
        'driver-view',
        `${m.id} core is at term ${st.term} vote ${st.vote || '-'}, stored hard state term ${w.hardState.term} vote ${w.hardState.vote || '-'}`,
      );
    }
    if (st.commit < m.commit) throw new SimViolation('monotonic-commit', `${m.id} commit went back from ${m.commit} to ${st.commit}`);
    if (st.applied < m.coreApplied) {
      throw new SimViolation('monotonic-apply', `${m.id} applied went back from ${m.coreApplied} to ${st.applied}`);
    }
    if (st.applied > st.commit || m.sm.applied > st.commit) {
      throw new SimViolation('apply-beyond-commit', `${m.id} applied ${Math.max(st.applied, m.sm.applied)} beyond commit ${st.commit}`);
    }
    if (st.applied !== m.sm.applied) {
      throw new SimViolation('driver-view', `${m.id} core says applied ${st.applied}, the state machine is at ${m.sm.applied}`);
    }
    const prevCommit = m.commit;
    m.role = st.role;
    m.term = st.term;
    m.commit = st.commit;
    m.coreApplied = st.applied;
    m.lastIndex = st.lastIndex;
    m.voters = st.membership.voters;
    if (st.term > this.stats.maxTerm) this.stats.maxTerm = st.term;
    if (st.role === 'leader' && this.checker.observeLeader(m.id, st.term)) {
      this.stats.leadersElected++;
      this.trace.add(`${this.now} ${m.id} leader t${st.term} last${st.lastIndex} c${st.commit} voters=${st.membership.voters.join(',')}`);
      this.checker.checkLeaderLog(m.id, st.term, w, 0, Number.POSITIVE_INFINITY);
    }
    if (st.commit > prevCommit) {
      if (st.role === 'leader' && w.termAt(st.commit) !== st.term) {
        // §5.4.2: a leader commits by counting replicas only entries of its own term.
        throw new SimViolation(
          'commit-rule',
          `leader ${m.id} of term ${st.term} advanced its commit to ${st.commit}, an entry of term ${w.termAt(st.commit)}`,
        );
      }
      this.checker.recordCommit(m.id, w, prevCommit, st.commit, st.term);
      for (const l of this.members) {
        if (l.state === 'running' && l.role === 'leader' && l.term > st.term) {
          this.checker.checkLeaderLog(l.id, l.term, l.disk.written, prevCommit + 1, st.commit);
        }
      }
    }
  }

  private onFirstApply(e: { readonly index: number; readonly kind: string; readonly data: Uint8Array }): void {
    if (e.kind !== 'conf') {
      if (e.data.length > 0) this.stats.commandsCommitted++;
      return;
    }
    const cc = decodeConfChange(e.data);
    this.committedMembership = membershipAfter(this.committedMembership, cc);
    if (e.index > this.nodes) this.stats.confChangesCommitted++; // not the bootstrap configuration
    this.trace.add(`${this.now} committed ${e.index} ${cc.type} ${cc.nodeId} voters=${this.committedMembership.voters.join(',')}`);
    if (cc.type === 'remove' && this.faultsOn) {
      const x = this.byId.get(cc.nodeId);
      if (x !== undefined && x.state !== 'stopped' && !this.committedMembership.voters.includes(x.id)) {
        x.stopAtStep = this.now + 1 + this.faultRng.int(this.profile.removedLingerStepsMax + 1);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // One step: faults, workload, deliveries, ticks.

  private faultStep(): void {
    const p = this.profile;
    for (const m of this.members) {
      if (m.state === 'down' && m.restartAtStep === this.now) {
        this.stats.restarts++;
        this.start(m, 'restart');
      }
      if (m.stopAtStep === this.now) {
        m.stopAtStep = -1;
        if (m.state !== 'stopped' && !this.isNeeded(m.id)) this.stop(m);
      }
      if (m.state === 'stopped' && this.committedMembership.voters.includes(m.id)) {
        // Shut down as removed, but a later change made it a voter again: the operator brings it back.
        this.start(m, 'rejoin');
      }
    }
    if (this.network.hasPartition()) {
      if (this.now >= this.partitionEndStep) {
        this.network.heal();
        this.trace.add(`${this.now} heal`);
      }
    } else if (this.faultRng.chance(p.partitionRate)) {
      const kind = PARTITION_KINDS[this.faultRng.weighted(p.partitionWeights)]!;
      const ids = this.members.filter((m) => m.state !== 'stopped').map((m) => m.id);
      const leader = this.faultRng.chance(p.leaderFaultBias) ? this.currentLeader() : undefined;
      const desc = this.network.partition(kind, ids, leader?.id);
      this.partitionEndStep = this.now + this.faultRng.range(p.partitionStepsMin, p.partitionStepsMax);
      this.stats.partitions++;
      this.trace.add(`${this.now} partition ${desc} until ${this.partitionEndStep}`);
    }
    if (this.faultRng.chance(p.crashRate)) {
      const candidates = this.members.filter((m) => m.state === 'running' && m.pendingCrash === null);
      const down = this.members.filter((m) => m.state === 'down' || m.pendingCrash !== null).length;
      if (candidates.length > 0 && down < p.downMax) {
        const leaders = candidates.filter((c) => c.role === 'leader');
        const m = this.faultRng.pick(leaders.length > 0 && this.faultRng.chance(p.leaderFaultBias) ? leaders : candidates);
        if (this.faultRng.chance(p.midReadyCrashShare)) {
          m.pendingCrash = { phase: this.faultRng.pick(CRASH_PHASES), pick: this.faultRng.u32() };
          this.trace.add(`${this.now} ${m.id} crash armed ${m.pendingCrash.phase}`);
        } else {
          this.crash(m, 'idle');
        }
      }
    }
    if (this.faultRng.chance(p.pauseRate)) {
      const candidates = this.running();
      if (candidates.length > 0) {
        const leaders = candidates.filter((c) => c.role === 'leader');
        const m = this.faultRng.pick(leaders.length > 0 && this.faultRng.chance(p.leaderFaultBias) ? leaders : candidates);
        m.pausedUntilStep = this.now + this.faultRng.range(1, p.pauseStepsMax);
        this.trace.add(`${this.now} ${m.id} pause until ${m.pausedUntilStep}`);
      }
    }
  }

  private workloadStep(): void {
    const p = this.profile;
    const r = this.workRng;
    if (r.chance(p.proposalRate)) {
      const leaders = this.leaders();
      const target = leaders.length > 0 && r.chance(0.9) ? r.pick(leaders) : undefined;
      const m = target ?? (this.members.length > 0 ? r.pick(this.members) : undefined);
      const backlog = m !== undefined && m.role === 'leader' && m.lastIndex - m.commit >= UNCOMMITTED_ENTRIES_MAX;
      if (m !== undefined && m.state === 'running' && m.pausedUntilStep <= this.now && !backlog) {
        const cmd = `c${this.nextCommand++}`;
        const res = m.core!.propose(commandBytes(cmd));
        if (res.ok) this.stats.proposalsAccepted++;
        this.trace.add(`${this.now} ${m.id} propose ${cmd} ${res.ok ? `-> ${res.index}/${res.term}` : res.error}`);
        this.drain(m, 'propose');
      }
    }
    if (r.chance(p.readRate)) {
      const running = this.running();
      if (running.length > 0) {
        const m = r.pick(running);
        const ctx = `r${this.nextRead++}`;
        const why = m.core!.readIndex(ctx);
        if (why === undefined) this.readRequests.set(ctx, this.checker.commitObservedMax);
        this.trace.add(`${this.now} ${m.id} read ${ctx} ${why ?? `>= ${this.checker.commitObservedMax}`}`);
        this.drain(m, 'read');
      }
    }
    if (r.chance(p.confChangeRate)) this.proposeConfChange();
    if (r.chance(p.transferRate)) {
      const leaders = this.leaders();
      if (leaders.length > 0) {
        const l = r.pick(leaders);
        const targets = l.voters.filter((v) => v !== l.id);
        if (targets.length > 0) {
          const to = r.pick(targets);
          const why = l.core!.transferLeadership(to);
          if (why === undefined) this.stats.transfersStarted++;
          this.trace.add(`${this.now} ${l.id} transfer to ${to} ${why ?? 'started'}`);
          this.drain(l, 'transfer');
        }
      }
    }
  }

  private proposeConfChange(): void {
    const r = this.workRng;
    const l = this.currentLeader();
    if (l === undefined) return;
    const voters = l.voters;
    const canAdd = voters.length < this.votersMax;
    const canRemove = voters.length > VOTERS_MIN;
    if (!canAdd && !canRemove) return;
    let cc: ConfChange;
    let fresh = false;
    if (canAdd && (!canRemove || r.chance(0.5))) {
      const idle = this.members.filter((m) => m.state === 'running' && !voters.includes(m.id)).map((m) => m.id);
      const freshOk = this.members.length < this.idsMax;
      if (idle.length === 0 && !freshOk) return;
      let id: NodeId;
      if (idle.length > 0 && (!freshOk || r.chance(0.5))) {
        id = r.pick(idle);
      } else {
        id = `n${this.members.length + 1}`;
        fresh = true;
      }
      cc = { type: 'add', nodeId: id, context: `addr-${id}` };
    } else {
      const candidates = voters.filter((v) => v !== l.id || this.profile.removeLeaderAllowed);
      if (candidates.length === 0) return;
      const id = r.pick(candidates);
      cc = { type: 'remove', nodeId: id, context: '' };
    }
    const res = l.core!.proposeConfChange(cc);
    this.trace.add(`${this.now} ${l.id} conf ${cc.type} ${cc.nodeId} ${res.ok ? `-> ${res.index}/${res.term}` : res.error}`);
    if (res.ok) {
      this.stats.confChangesProposed++;
      if (cc.type === 'add') {
        const existing = this.byId.get(cc.nodeId);
        if (existing !== undefined) existing.stopAtStep = -1;
      }
    }
    this.drain(l, 'conf');
    if (res.ok && fresh) {
      const j = joinState();
      this.start(this.addMember(cc.nodeId, new LogState(j.hardState, j.snapshot, [...j.entries])), 'join');
    }
  }

  private deliverStep(): void {
    const due = this.network.takeDue(this.now);
    if (due === undefined) return;
    for (const env of due) {
      const msg = env.msg;
      const m = this.byId.get(msg.to);
      if (m !== undefined && m.pausedUntilStep > this.now && m.state === 'running') {
        this.network.hold(env, m.pausedUntilStep);
        continue;
      }
      if (m === undefined || m.state !== 'running' || this.network.isCut(msg.from, msg.to)) {
        this.stats.messagesLost++;
        this.trace.add(`${this.now} ${formatMessage(msg)} lost`);
        continue;
      }
      this.stats.messagesDelivered++;
      const why = m.core!.step(msg);
      this.trace.add(`${this.now} ${formatMessage(msg)}${env.duplicate ? ' dup' : ''}${why === undefined ? '' : ` ignored: ${why}`}`);
      this.drain(m, 'msg');
    }
  }

  private tickStep(): void {
    for (const m of this.members) {
      if (m.state === 'running' && (this.now + m.tickPhase) % m.tickPeriod === 0 && m.pausedUntilStep <= this.now) {
        m.core!.tick();
        this.drain(m, 'tick');
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Liveness: heal everything, then demand a new proposal on every voter within a bound.

  private livenessPhase(): void {
    this.faultsOn = false;
    this.network.heal();
    this.network.faults = CALM_NETWORK;
    const startStep = this.now;
    this.trace.add(`${this.now} liveness: heal, restart voters, faults off`);
    for (const m of this.members) {
      m.pendingCrash = null;
      m.pausedUntilStep = -1;
      m.stopAtStep = -1;
      m.restartAtStep = -1;
    }
    for (const m of this.members) {
      if (m.state === 'running' && !this.isNeeded(m.id)) this.stop(m);
    }
    const appliedBefore = this.checker.appliedMax;
    const p = this.profile;
    const electionSteps = p.electionTicks * p.tickSteps;
    const endStep = this.now + LIVENESS_ELECTION_TIMEOUTS * electionSteps;
    const proposed: string[] = [];
    let lastProposeStep = -1;
    for (; this.now < endStep; this.now++) {
      for (const m of this.members) {
        if (m.state !== 'running' && this.isNeeded(m.id)) this.start(m, 'liveness');
      }
      this.deliverStep();
      this.tickStep();
      const l = this.currentLeader();
      const waiting = proposed.length > 0 && this.now - lastProposeStep < 3 * electionSteps;
      if (l !== undefined && !waiting) {
        const cmd = `live${proposed.length}`;
        const res = l.core!.propose(commandBytes(cmd));
        this.trace.add(`${this.now} ${l.id} propose ${cmd} ${res.ok ? `-> ${res.index}/${res.term}` : res.error}`);
        if (res.ok) {
          proposed.push(cmd);
          lastProposeStep = this.now;
        }
        this.drain(l, 'propose');
      }
      for (const cmd of proposed) {
        const index = this.checker.indexOfCommand(cmd);
        if (index === undefined) continue;
        if (index <= appliedBefore) {
          throw new SimViolation('durability', `${cmd} was applied at ${index}, where something else was applied before`);
        }
        const voters = this.committedMembership.voters;
        if (voters.every((v) => this.byId.get(v)?.state === 'running' && this.byId.get(v)!.sm.applied >= index)) {
          this.stats.livenessSteps = this.now - startStep;
          this.trace.add(`${this.now} liveness ok: ${cmd} at ${index} on ${voters.join(',')} after ${this.stats.livenessSteps} steps`);
          return;
        }
      }
    }
    const where = this.members
      .map((m) => (m.state === 'running' ? `${m.id}:${m.role} t${m.term} c${m.commit} a${m.sm.applied}` : `${m.id}:${m.state}`))
      .join(' ');
    throw new SimViolation(
      'liveness',
      `no new proposal applied on every voter (${this.committedMembership.voters.join(',')}) within ${LIVENESS_ELECTION_TIMEOUTS} election timeouts; ${where}`,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Trace formatting.

  private formatReady(m: SimMember, rd: Ready, cause: string): string {
    let s = `${this.now} ${m.id} ready(${cause})`;
    if (rd.softState !== null) s += ` ss=${rd.softState.role}/${rd.softState.leader || '-'}`;
    if (rd.hardState !== null) s += ` hs=${rd.hardState.term}/${rd.hardState.vote || '-'}/${rd.hardState.commit}`;
    if (rd.snapshot !== null) s += ` snap=${rd.snapshot.meta.index}/${rd.snapshot.meta.term}`;
    const e0 = rd.entries[0];
    if (e0 !== undefined) s += ` ents=${e0.index}-${e0.index + rd.entries.length - 1}/${rd.entries[rd.entries.length - 1]!.term}`;
    const c0 = rd.committedEntries[0];
    if (c0 !== undefined) s += ` apply=${c0.index}-${c0.index + rd.committedEntries.length - 1}`;
    if (rd.messages.length > 0) s += ` msgs=${rd.messages.length}`;
    if (rd.readStates.length > 0) s += ` reads=${rd.readStates.map((r) => `${r.context}@${r.index}`).join(',')}`;
    if (rd.mustSync) s += ' sync';
    if (rd.sendFirst) s += ' send-first';
    return s;
  }
}

/** formatMessage renders a message as a compact trace fragment. */
export function formatMessage(m: Message): string {
  let s = `${m.from}>${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append':
      s += ` ${m.index}/${m.logTerm} n${m.entries.length} c${m.commit}`;
      break;
    case 'appendResp':
      s += m.reject ? ` rej ${m.index} hint ${m.rejectHint}/${m.logTerm}` : ` ok ${m.index}`;
      break;
    case 'heartbeat':
      s += ` c${m.commit}`;
      break;
    case 'preVote':
    case 'vote':
      s += ` ${m.index}/${m.logTerm}`;
      break;
    case 'preVoteResp':
    case 'voteResp':
    case 'readIndexResp':
      s += m.reject ? ' rej' : ' ok';
      if (m.type === 'readIndexResp') s += ` ${m.index}`;
      break;
    case 'snapshot':
      s += ` ${m.snapshotMeta?.index ?? '?'}/${m.snapshotMeta?.term ?? '?'} @${m.offset}+${m.data.length}${m.done ? ' done' : ''}`;
      break;
    case 'snapshotResp':
      s += ` ${m.index} @${m.offset}${m.reject ? ' rej' : ''}`;
      break;
    default:
      break;
  }
  if (m.context !== '') s += ` ctx=${m.context}`;
  return s;
}
