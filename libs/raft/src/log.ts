import type { Entry, Membership, SnapshotMeta } from './types.ts';
import { decodeConfChange, applyConfChange } from './conf.ts';

/**
 * RaftLog is a member's in-memory view of its log: the latest snapshot's position, the entries
 * after it, how far they are durable (`stableTo`), committed and applied. It also tracks the
 * membership in force at every conf entry, because membership takes effect when a conf entry
 * is appended (Raft dissertation §4.1) and must be undone if that entry is truncated.
 *
 * Invariants: entries[k].index === snapIndex + 1 + k; applied <= committed <= lastIndex();
 * snapIndex <= committed.
 */
export class RaftLog {
  snapIndex: number;
  snapTerm: number;
  /** Membership at snapIndex. */
  snapMembership: Membership;
  entries: Entry[];
  /** Highest index known to be on disk. */
  stableTo: number;
  committed: number;
  applied: number;
  /** Membership after each conf entry in `entries`, oldest first. */
  private confHistory: { index: number; membership: Membership }[] = [];

  constructor(snap: SnapshotMeta, entries: readonly Entry[], committed: number, applied: number) {
    this.snapIndex = snap.index;
    this.snapTerm = snap.term;
    this.snapMembership = snap.membership;
    this.entries = [];
    this.stableTo = snap.index;
    this.committed = snap.index;
    this.applied = snap.index;
    let expected = snap.index + 1;
    let prevTerm = snap.term;
    for (const e of entries) {
      if (e.index !== expected) {
        throw new Error(`raft log: entry index ${e.index} where ${expected} was expected (snapshot at ${snap.index})`);
      }
      if (e.term < prevTerm) {
        throw new Error(`raft log: entry ${e.index} has term ${e.term} below the previous term ${prevTerm}`);
      }
      prevTerm = e.term;
      expected++;
    }
    this.appendUnchecked(entries);
    this.stableTo = this.lastIndex();
    if (committed < snap.index || committed > this.lastIndex()) {
      throw new Error(`raft log: commit index ${committed} outside [${snap.index}, ${this.lastIndex()}]`);
    }
    if (applied < snap.index || applied > committed) {
      throw new Error(`raft log: applied index ${applied} outside [${snap.index}, ${committed}]`);
    }
    this.committed = committed;
    this.applied = applied;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.entries[this.entries.length - 1];
    return last === undefined ? this.snapTerm : last.term;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  /** termAt answers the term of the entry at `index`, or undefined if compacted away or beyond the end. */
  termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return this.at(index).term;
  }

  at(index: number): Entry {
    const e = this.entries[index - this.snapIndex - 1];
    if (e === undefined) throw new Error(`raft log: no entry at ${index} (snapshot ${this.snapIndex}, last ${this.lastIndex()})`);
    return e;
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** isUpToDate is the election restriction (§5.4.1): is (lastTerm, lastIndex) at least as new as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** slice returns entries [lo, hi) but no more than maxBytes of payload (at least one entry). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.at(i);
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /**
   * findConflictByTerm returns the largest index <= `index` whose term is <= `term`
   * (or the snapshot index), used by both sides of the fast log back-off.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapIndex) {
      const t = this.termAt(i);
      if (t !== undefined && t <= term) break;
      i--;
    }
    return i;
  }

  /**
   * append adds `entries`, which must directly follow an existing index; entries at or after
   * entries[0].index are replaced. Truncating a committed entry is a safety violation and throws.
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index <= this.committed) {
      throw new Error(`raft log: refusing to overwrite committed index ${first.index} (committed ${this.committed})`);
    }
    if (first.index > this.lastIndex() + 1) {
      throw new Error(`raft log: gap: appending ${first.index} after last ${this.lastIndex()}`);
    }
    if (first.index <= this.lastIndex()) this.truncateFrom(first.index);
    this.appendUnchecked(entries);
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapIndex - 1;
    this.stableTo = Math.min(this.stableTo, index - 1);
    while (this.confHistory.length > 0 && this.confHistory[this.confHistory.length - 1]!.index >= index) {
      this.confHistory.pop();
    }
  }

  private appendUnchecked(entries: readonly Entry[]): void {
    for (const e of entries) {
      this.entries.push(e);
      if (e.kind === 'conf') {
        const cc = decodeConfChange(e.data);
        this.confHistory.push({ index: e.index, membership: applyConfChange(this.membership(), cc) });
      }
    }
  }

  /** membership is the configuration in force: that of the latest conf entry, committed or not. */
  membership(): Membership {
    const last = this.confHistory[this.confHistory.length - 1];
    return last === undefined ? this.snapMembership : last.membership;
  }

  /** lastConfIndex is the index of the latest conf entry (or the snapshot index if none is in the log). */
  lastConfIndex(): number {
    const last = this.confHistory[this.confHistory.length - 1];
    return last === undefined ? this.snapIndex : last.index;
  }

  membershipAt(index: number): Membership {
    let m = this.snapMembership;
    for (const h of this.confHistory) {
      if (h.index > index) break;
      m = h.membership;
    }
    return m;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) {
      throw new Error(`raft log: commit ${index} beyond last index ${this.lastIndex()}`);
    }
    this.committed = index;
    return true;
  }

  /** compact drops entries up to `meta.index`, which the caller's snapshot now covers. */
  compact(meta: SnapshotMeta): void {
    const drop = meta.index - this.snapIndex;
    this.entries.splice(0, drop);
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.snapMembership = meta.membership;
    this.confHistory = this.confHistory.filter((h) => h.index > meta.index);
  }

  /** restore discards the whole log in favour of a snapshot from the leader. */
  restore(meta: SnapshotMeta): void {
    this.entries = [];
    this.confHistory = [];
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.snapMembership = meta.membership;
    this.committed = meta.index;
    this.stableTo = meta.index;
  }

  /** unstable returns entries not yet known to be durable. */
  unstable(): Entry[] {
    return this.entries.slice(this.stableTo - this.snapIndex);
  }
}
