/**
 * History is the bounded ring of recent watch events, shared by every watcher.
 *
 * Every event gets a sequence number (`seq`, from 0, never reused, also across restores); the
 * ring keeps seqs [first, next). Watchers are cursors into it: a watcher holds no events of
 * its own, so a slow watcher costs nothing, and one whose cursor falls below `first` has lost
 * events and is expired.
 *
 * Bounds: at most `maxEvents` events and, beyond the newest one, at most `maxBytes` of their
 * objects' estimated encoded size. Evicting events of revision R makes `compactRevision` R: a
 * watch may start from any revision >= compactRevision (it gets the events after it).
 */
import type { WatchEvent } from './types.ts';

export class History {
  readonly maxEvents: number;
  readonly maxBytes: number;
  private readonly ring: (WatchEvent | undefined)[];
  private readonly weights: Float64Array;
  private firstSeq = 0;
  private nextSeq = 0;
  private totalBytes = 0;
  private compactRev = 0;

  constructor(maxEvents: number, maxBytes: number) {
    this.maxEvents = maxEvents;
    this.maxBytes = maxBytes;
    this.ring = new Array<WatchEvent | undefined>(maxEvents).fill(undefined);
    this.weights = new Float64Array(maxEvents);
  }

  /** first is the seq of the oldest kept event. */
  get first(): number {
    return this.firstSeq;
  }

  /** next is the seq the next appended event gets. */
  get next(): number {
    return this.nextSeq;
  }

  get size(): number {
    return this.nextSeq - this.firstSeq;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** compactRevision: events with revision <= this may be gone; a watch may start from here or later. */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** at returns the event with sequence number `seq`, which must be in [first, next). */
  at(seq: number): WatchEvent {
    const ev = this.ring[seq % this.maxEvents];
    if (seq < this.firstSeq || seq >= this.nextSeq || ev === undefined) {
      throw new Error(`store history: seq ${seq} is outside [${this.firstSeq}, ${this.nextSeq})`);
    }
    return ev;
  }

  /** append adds an event of estimated size `bytes`, evicting the oldest as the bounds require. */
  append(ev: WatchEvent, bytes: number): void {
    if (this.nextSeq - this.firstSeq === this.maxEvents) this.evictOne();
    const slot = this.nextSeq % this.maxEvents;
    this.ring[slot] = ev;
    this.weights[slot] = bytes;
    this.totalBytes += bytes;
    this.nextSeq++;
    while (this.totalBytes > this.maxBytes && this.nextSeq - this.firstSeq > 1) this.evictOne();
  }

  /** seqAfter returns the seq of the first kept event with revision > `revision` (`next` if none). */
  seqAfter(revision: number): number {
    let lo = this.firstSeq;
    let hi = this.nextSeq;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** reset drops every event; history restarts at `revision` (after a snapshot was restored). */
  reset(revision: number): void {
    this.ring.fill(undefined);
    this.weights.fill(0);
    this.firstSeq = this.nextSeq;
    this.totalBytes = 0;
    this.compactRev = revision;
  }

  private evictOne(): void {
    const slot = this.firstSeq % this.maxEvents;
    const ev = this.ring[slot];
    if (ev === undefined) throw new Error(`store history: evicting empty slot for seq ${this.firstSeq}`);
    this.compactRev = ev.revision;
    this.totalBytes -= this.weights[slot]!;
    this.ring[slot] = undefined;
    this.weights[slot] = 0;
    this.firstSeq++;
  }
}
