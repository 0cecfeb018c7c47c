import type { ConfChange, Message, NodeId, RaftConfig, ReadState, Ready } from '@tugboat/raft';
import { bootstrapState, joinState } from '@tugboat/raft';
import { SafetyChecker } from './checker.ts';
import { realCore, type CoreFactory, type CoreStatus, type ProposeOutcome, type SimCore } from './core-api.ts';
import { LogState, SimDisk } from './disk.ts';
import { SimStateMachine, commandBytes } from './state-machine.ts';

/** HarnessOptions are the Raft settings every member of a harness cluster gets. */
export interface HarnessOptions {
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /**
   * Default 10. There is no randomness: the k-th member added (from 0) has an election timeout
   * of exactly electionTicks + (k mod electionTicks) ticks, so timeouts are staggered.
   */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly maxMsgBytes?: number;
  readonly maxInflightMsgs?: number;
  readonly snapshotChunkBytes?: number;
  readonly coreFactory?: CoreFactory;
}

/** MessageFilter selects in-flight messages by any of their fields. */
export interface MessageFilter {
  readonly from?: NodeId;
  readonly to?: NodeId;
  readonly type?: Message['type'] | readonly Message['type'][];
}

/** HarnessMember is one member of a harness cluster. */
export interface HarnessMember {
  readonly id: NodeId;
  core: SimCore | null;
  readonly disk: SimDisk;
  sm: SimStateMachine;
  /** Every ReadState released to this member, in order. */
  readonly readStates: ReadState[];
  /** Commands this incarnation applied, in order (snapshot-restored ones are not listed). */
  applied: string[];
}

function matches(m: Message, f: MessageFilter): boolean {
  if (f.from !== undefined && m.from !== f.from) return false;
  if (f.to !== undefined && m.to !== f.to) return false;
  if (f.type !== undefined) {
    if (typeof f.type === 'string' ? m.type !== f.type : !f.type.includes(m.type)) return false;
  }
  return true;
}

/**
 * Harness drives a small cluster by hand, for scenario tests that read like the paper: every
 * message a member sends waits in `inFlight` until the test delivers or drops it, time moves
 * only through `tick`, and cut links swallow messages. Each member persists every Ready
 * synchronously (its disk is a {@link SimDisk}), so `crash`/`restart` rebuild it from disk.
 * Written entries, leaders and applied entries go through a {@link SafetyChecker}.
 */
export class Harness {
  readonly members = new Map<NodeId, HarnessMember>();
  /** Messages sent and not yet delivered or dropped, oldest first. */
  inFlight: Message[] = [];
  readonly checker = new SafetyChecker();
  private readonly cut = new Set<string>();
  private readonly options: HarnessOptions;

  /** The founding members `ids` start from the same bootstrap state, all followers at term 1. */
  constructor(ids: readonly NodeId[], options: HarnessOptions = {}) {
    this.options = options;
    const boot = bootstrapState(ids.map((id) => ({ id, context: `addr-${id}` })));
    for (const id of ids) this.addMember(id, new LogState(boot.hardState, boot.snapshot, [...boot.entries]));
  }

  /** addJoiner starts a member that joins an existing cluster (empty state) and waits to be contacted. */
  addJoiner(id: NodeId): HarnessMember {
    const j = joinState();
    return this.addMember(id, new LogState(j.hardState, j.snapshot, [...j.entries]));
  }

  private addMember(id: NodeId, log: LogState): HarnessMember {
    const m: HarnessMember = { id, core: null, disk: new SimDisk(log), sm: new SimStateMachine(), readStates: [], applied: [] };
    this.members.set(id, m);
    this.boot(m);
    return m;
  }

  private config(id: NodeId): RaftConfig {
    const o = this.options;
    const k = [...this.members.keys()].indexOf(id);
    return {
      id,
      randomInt: (n) => k % n,
      ...(o.preVote === undefined ? {} : { preVote: o.preVote }),
      ...(o.checkQuorum === undefined ? {} : { checkQuorum: o.checkQuorum }),
      ...(o.electionTicks === undefined ? {} : { electionTicks: o.electionTicks }),
      ...(o.heartbeatTicks === undefined ? {} : { heartbeatTicks: o.heartbeatTicks }),
      ...(o.maxMsgBytes === undefined ? {} : { maxMsgBytes: o.maxMsgBytes }),
      ...(o.maxInflightMsgs === undefined ? {} : { maxInflightMsgs: o.maxInflightMsgs }),
      ...(o.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: o.snapshotChunkBytes }),
    };
  }

  private boot(m: HarnessMember): void {
    const init = m.disk.initialState();
    m.sm = new SimStateMachine();
    if (init.snapshot.meta.index > 0) m.sm.restore(init.snapshot.data);
    m.applied = [];
    m.core = (this.options.coreFactory ?? realCore)(this.config(m.id), init);
    this.process(m);
  }

  member(id: NodeId): HarnessMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`harness: no member ${id}`);
    return m;
  }

  private core(id: NodeId): SimCore {
    const c = this.member(id).core;
    if (c === null) throw new Error(`harness: ${id} is down`);
    return c;
  }

  status(id: NodeId): CoreStatus {
    return this.core(id).status();
  }

  /** leaderOf answers who leads in `id`'s view ('' if nobody). */
  leaderOf(id: NodeId): NodeId | '' {
    return this.status(id).leader;
  }

  // ---------------------------------------------------------------------------------------
  // Actions on members. Each one processes the member's Ready afterwards.

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.process(this.member(id));
    }
  }

  /** tickAll ticks every running member `n` times, round-robin. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const m of this.members.values()) if (m.core !== null) this.tick(m.id);
  }

  campaign(id: NodeId): void {
    this.core(id).campaign();
    this.process(this.member(id));
  }

  propose(id: NodeId, command: string): ProposeOutcome {
    const r = this.core(id).propose(commandBytes(command));
    this.process(this.member(id));
    return r;
  }

  proposeConfChange(id: NodeId, cc: ConfChange): ProposeOutcome {
    const r = this.core(id).proposeConfChange(cc);
    this.process(this.member(id));
    return r;
  }

  transferLeadership(id: NodeId, to: NodeId): string | undefined {
    const r = this.core(id).transferLeadership(to);
    this.process(this.member(id));
    return r;
  }

  readIndex(id: NodeId, context: string): string | undefined {
    const r = this.core(id).readIndex(context);
    this.process(this.member(id));
    return r;
  }

  /** compact makes `id` snapshot its state machine at its applied index. */
  compact(id: NodeId): number {
    const m = this.member(id);
    const index = m.sm.applied;
    const w = m.disk.written;
    const term = w.termAt(index);
    if (term === undefined) throw new Error(`harness: ${id} has no entry at its applied index ${index}`);
    const data = m.sm.snapshot();
    this.core(id).compact(index, data);
    m.disk.compact({ meta: { index, term, membership: w.membershipAt(index) }, data });
    return index;
  }

  /** crash stops `id`; its messages in flight stay in flight, messages to it are lost. */
  crash(id: NodeId): void {
    const m = this.member(id);
    m.disk.crash(0);
    m.core = null;
  }

  /** restart rebuilds `id` from its disk. */
  restart(id: NodeId): void {
    const m = this.member(id);
    if (m.core !== null) throw new Error(`harness: ${id} is running`);
    this.boot(m);
  }

  // ---------------------------------------------------------------------------------------
  // The network.

  /** isolate cuts every link between `id` and the other members (both directions). */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cutLink(id, other);
      this.cutLink(other, id);
    }
  }

  /** cutLink cuts one direction: messages from `from` to `to` are lost from now on. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** pending lists the in-flight messages matching `filter`. */
  pending(filter: MessageFilter = {}): Message[] {
    return this.inFlight.filter((m) => matches(m, filter));
  }

  /**
   * deliver hands the in-flight messages matching `filter` to their receivers, in send order,
   * and answers how many were delivered. Messages sent while delivering wait for a later call.
   * Messages to a crashed member or over a cut link are lost.
   */
  deliver(filter: MessageFilter = {}): number {
    const batch = this.inFlight.filter((m) => matches(m, filter));
    this.inFlight = this.inFlight.filter((m) => !matches(m, filter));
    let delivered = 0;
    for (const msg of batch) {
      const to = this.members.get(msg.to);
      if (to === undefined || to.core === null || this.cut.has(`${msg.from}>${msg.to}`)) continue;
      to.core.step(msg);
      this.process(to);
      delivered++;
    }
    return delivered;
  }

  /** drop discards the in-flight messages matching `filter` and answers how many. */
  drop(filter: MessageFilter = {}): number {
    const before = this.inFlight.length;
    this.inFlight = this.inFlight.filter((m) => !matches(m, filter));
    return before - this.inFlight.length;
  }

  /** stabilize delivers everything, round after round, until nothing is in flight. */
  stabilize(roundsMax = 100): void {
    for (let i = 0; i < roundsMax && this.inFlight.length > 0; i++) this.deliver();
    if (this.inFlight.length > 0) throw new Error(`harness: still ${this.inFlight.length} messages in flight after ${roundsMax} rounds`);
  }

  /** elect makes `id` campaign and stabilizes; it throws unless `id` became leader. */
  elect(id: NodeId): void {
    this.campaign(id);
    this.stabilize();
    const st = this.status(id);
    if (st.role !== 'leader') throw new Error(`harness: ${id} did not win its election (role ${st.role}, term ${st.term})`);
  }

  // ---------------------------------------------------------------------------------------
  // Ready processing: persist, send, apply, advance (docs/raft-core-api.md).

  private process(m: HarnessMember): void {
    for (let n = 0; m.core !== null && m.core.hasReady(); n++) {
      if (n > 10_000) throw new Error(`harness: ${m.id} never runs out of Readies`);
      this.handle(m, m.core.ready());
    }
    if (m.core !== null) {
      const st = m.core.status();
      if (st.role === 'leader') this.checker.observeLeader(m.id, st.term);
    }
  }

  private handle(m: HarnessMember, rd: Ready): void {
    const err = m.disk.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState }, true);
    if (err !== undefined) throw new Error(`harness: ${m.id}: ${err}`);
    const first = rd.entries[0];
    if (first !== undefined) this.checker.checkWritten(m.id, rd.entries, m.disk.written.termAt(first.index - 1) ?? 0);
    for (const msg of rd.messages) {
      if (!this.cut.has(`${msg.from}>${msg.to}`)) this.inFlight.push(msg);
    }
    if (rd.snapshot !== null) m.sm.restore(rd.snapshot.data);
    for (const e of rd.committedEntries) {
      m.sm.apply(e);
      this.checker.recordApply(m.id, e, m.sm.h1, m.sm.h2);
      if (e.kind === 'normal' && e.data.length > 0) m.applied.push(new TextDecoder().decode(e.data));
    }
    m.readStates.push(...rd.readStates);
    m.core!.advance(rd);
  }
}
