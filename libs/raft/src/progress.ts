/**
 * Progress is the leader's view of one follower's log.
 *
 * - probe: the leader does not know where the follower's log matches; it sends one append at a
 *   time and waits for the answer (or the next heartbeat response) before sending another.
 * - replicate: the logs match up to `match`; appends are pipelined, at most `maxInflight`
 *   messages unacknowledged.
 * - snapshot: the follower needs entries the leader has compacted; the leader streams the
 *   snapshot in chunks, one at a time, and resumes from `snapshotOffset` after a stall.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: an append is outstanding. */
  probeSent = false;
  /** replicate: last index carried by each unacknowledged append, ascending. */
  inflight: number[] = [];
  /** Heard from within the current check-quorum window. */
  recentActive = true;
  snapshotIndex = 0;
  snapshotOffset = 0;
  /** Ticks since the follower last acknowledged a snapshot chunk. */
  snapshotIdleTicks = 0;

  private readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.snapshotIndex + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.inflight = [];
    this.snapshotIndex = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflight = [];
    this.probeSent = false;
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.inflight = [];
    this.snapshotIndex = index;
    this.snapshotOffset = 0;
    this.snapshotIdleTicks = 0;
  }

  /** maybeUpdate records an acknowledged index; false when the ack is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && this.inflight[0]! <= index) this.inflight.shift();
    return updated;
  }

  /** sentEntries notes an append carrying entries up to `last`. */
  sentEntries(last: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflight.push(last);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /**
   * maybeDecrease handles a rejected append for prevIndex `rejected`; `hint` is where the
   * leader should probe next. False when the rejection is stale.
   */
  maybeDecrease(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(1, this.match + 1, Math.min(rejected, hint + 1));
    this.probeSent = false;
    return true;
  }
}
