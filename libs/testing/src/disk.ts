import type { ConfChange, Entry, HardState, InitialState, Membership, NodeId, Snapshot } from '@tugboat/raft';
import { decodeConfChange } from '@tugboat/raft';

/** DiskBatch is one Ready's worth of durable state, written atomically (one LevelDB batch). */
export interface DiskBatch {
  /** A snapshot from the leader: replaces the whole stored log. */
  readonly snapshot: Snapshot | null;
  /** Entries to append; stored entries with index >= entries[0].index are deleted first. */
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

const emptySnapshot: Snapshot = { meta: { index: 0, term: 0, membership: { voters: [], contexts: {} } }, data: new Uint8Array(0) };

/**
 * membershipAfter applies one conf change the way the core does (dissertation §4.1): adding a
 * voter keeps `voters` sorted; adding a present or removing an absent voter changes nothing.
 * Written apart from the core's own `applyConfChange` on purpose: the checker must not trust
 * the code it checks.
 */
export function membershipAfter(m: Membership, cc: ConfChange): Membership {
  if (cc.type === 'add') {
    if (m.voters.includes(cc.nodeId)) return m;
    return { voters: [...m.voters, cc.nodeId].sort(), contexts: { ...m.contexts, [cc.nodeId]: cc.context } };
  }
  if (!m.voters.includes(cc.nodeId)) return m;
  const contexts: Record<NodeId, string> = { ...m.contexts };
  delete contexts[cc.nodeId];
  return { voters: m.voters.filter((v) => v !== cc.nodeId), contexts };
}

/**
 * LogState is a member's stored Raft state: hard state, latest snapshot, and the contiguous
 * entries after it (`entries[k].index === snapshot.meta.index + 1 + k`).
 */
export class LogState {
  hardState: HardState;
  snapshot: Snapshot;
  entries: Entry[];

  constructor(hardState: HardState, snapshot: Snapshot, entries: Entry[]) {
    this.hardState = hardState;
    this.snapshot = snapshot;
    this.entries = entries;
  }

  static empty(): LogState {
    return new LogState({ term: 0, vote: '', commit: 0 }, emptySnapshot, []);
  }

  clone(): LogState {
    return new LogState(this.hardState, this.snapshot, this.entries.slice());
  }

  snapIndex(): number {
    return this.snapshot.meta.index;
  }

  lastIndex(): number {
    return this.snapshot.meta.index + this.entries.length;
  }

  /** termAt answers the term at `index`: the snapshot's at its index, undefined outside the log. */
  termAt(index: number): number | undefined {
    const snap = this.snapshot.meta.index;
    if (index === snap) return this.snapshot.meta.term;
    if (index < snap) return undefined;
    return this.entries[index - snap - 1]?.term;
  }

  entryAt(index: number): Entry | undefined {
    return this.entries[index - this.snapshot.meta.index - 1];
  }

  /** membershipAt is the membership in force at `index` (>= the snapshot index). */
  membershipAt(index: number): Membership {
    let m = this.snapshot.meta.membership;
    const last = Math.min(index, this.lastIndex());
    for (let i = this.snapshot.meta.index + 1; i <= last; i++) {
      const e = this.entryAt(i)!;
      if (e.kind === 'conf') m = membershipAfter(m, decodeConfChange(e.data));
    }
    return m;
  }

  /** apply writes one batch; it answers why the batch breaks the storage contract, if it does. */
  apply(batch: DiskBatch): string | undefined {
    if (batch.snapshot !== null) {
      this.snapshot = batch.snapshot;
      this.entries = [];
    }
    const first = batch.entries[0];
    if (first !== undefined) {
      if (first.index <= this.snapshot.meta.index) {
        return `entries start at ${first.index}, at or below the snapshot index ${this.snapshot.meta.index}`;
      }
      if (first.index > this.lastIndex() + 1) {
        return `entries start at ${first.index}, leaving a gap after the last stored index ${this.lastIndex()}`;
      }
      this.entries.length = first.index - this.snapshot.meta.index - 1;
      let expected = first.index;
      for (const e of batch.entries) {
        if (e.index !== expected) return `entries not contiguous: ${e.index} where ${expected} was expected`;
        expected++;
        this.entries.push(e);
      }
    }
    if (batch.hardState !== null) this.hardState = batch.hardState;
    return undefined;
  }

  /** compact makes `snapshot` (taken at an index inside the log) the stored snapshot and drops the entries it covers. */
  compact(snapshot: Snapshot): void {
    const drop = snapshot.meta.index - this.snapshot.meta.index;
    if (drop <= 0) return;
    this.entries.splice(0, drop);
    this.snapshot = snapshot;
  }
}

/**
 * SimDisk is a member's disk. Writes land in `written` (what the running member has) at once;
 * they reach `durable` (what survives a crash) only when synced. Every write is one atomic
 * batch, and batches become durable in order, so a crash keeps the durable state plus some
 * prefix of the unsynced batches (possibly none, possibly all).
 */
export class SimDisk {
  durable: LogState;
  written: LogState;
  private pending: DiskBatch[] = [];

  constructor(initial: LogState) {
    this.durable = initial;
    this.written = initial.clone();
  }

  /** unsyncedBatches is the number of written batches not yet durable. */
  unsyncedBatches(): number {
    return this.pending.length;
  }

  /** write applies one batch, durably when `sync`; it answers why the batch breaks the contract, if it does. */
  write(batch: DiskBatch, sync: boolean): string | undefined {
    const err = this.written.apply(batch);
    if (err !== undefined) return err;
    this.pending.push(batch);
    if (sync) this.sync();
    return undefined;
  }

  sync(): void {
    for (const b of this.pending) {
      const err = this.durable.apply(b);
      if (err !== undefined) throw new Error(`sim disk: a batch valid in the written state failed on the durable state: ${err}`);
    }
    this.pending = [];
  }

  /** compact stores an application snapshot (synced, with everything written before it). */
  compact(snapshot: Snapshot): void {
    this.sync();
    this.written.compact(snapshot);
    this.durable.compact(snapshot);
  }

  /** crash loses the unsynced batches after the first `keep` of them. */
  crash(keep: number): void {
    const kept = this.pending.slice(0, keep);
    this.pending = kept;
    this.sync();
    this.written = this.durable.clone();
  }

  /**
   * initialState is what a restarting member loads: applied = the snapshot index (the state
   * machine lives in memory and is rebuilt from the snapshot plus the committed log), commit
   * at least the snapshot index (a snapshot only ever holds committed state).
   */
  initialState(): InitialState {
    const d = this.durable;
    const snapIndex = d.snapIndex();
    const hs = d.hardState.commit >= snapIndex ? d.hardState : { ...d.hardState, commit: snapIndex };
    return { hardState: hs, snapshot: d.snapshot, entries: d.entries.slice(), applied: snapIndex };
  }
}
