/**
 * Leadership follows this member's Raft role and who leads, for the pieces of the control plane
 * that depend on it: whether this member may propose (isLeader), waiting for the next role,
 * leader or term change, and waiting for a (new) leader. A closing member leads no more and
 * waits for nothing, so that every wait ends promptly during shutdown. handOver() moves
 * leadership to another voter before this member shuts down (bounded, best effort), so that
 * the cluster does not wait an election timeout for a new leader.
 */
import type { Logger } from 'pino';
import type { Role, StateChange } from '@tugboat/raft';

/** RaftRole is what Leadership needs of the Raft node (RaftNode has it). */
export interface RaftRole {
  status(): { readonly role: Role; readonly leader: string; readonly membership: { readonly voters: readonly string[] } };
  /** onStateChange calls `listener` (inside the Raft loop) on every role, leader or term change. */
  onStateChange(listener: (s: StateChange) => void): () => void;
  transferLeadership(to: string): Promise<void>;
}

/** LeaderState is what the other pieces read of this member's leadership. */
export interface LeaderState {
  /** name is this member's. */
  readonly name: string;
  /** closing: the member is shutting down (from the start of close()). */
  readonly closing: boolean;
  /** leader is the current leader's name, '' when none is known. */
  leader(): string;
  /** isLeader tells whether this member leads now (and is not closing). */
  isLeader(): boolean;
  /** nextStateChange resolves on the next role, leader or term change; cancel() stops waiting. */
  nextStateChange(): { promise: Promise<void>; cancel: () => void };
  /** waitForStateChange waits for the next role, leader or term change, or `ms`. */
  waitForStateChange(ms: number): Promise<void>;
  /** waitForLeader waits until a leader other than `not` is known, or `ms` passed, or the member closes. */
  waitForLeader(not: string, ms: number): Promise<void>;
}

/** handOverTimeoutMs bounds the leadership transfer on close. */
const handOverTimeoutMs = 1_000;

export class Leadership implements LeaderState {
  readonly name: string;
  private readonly raft: RaftRole;
  private readonly log: Logger;
  private readonly waiters = new Set<() => void>();
  private role: Role = 'follower';
  private closed = false;

  constructor(name: string, raft: RaftRole, log: Logger) {
    this.name = name;
    this.raft = raft;
    this.log = log;
  }

  /**
   * follow tracks the Raft node from now on. After every change `changed` gets the change and
   * the role before it (inside the Raft loop: keep it quick).
   */
  follow(changed: (s: StateChange, was: Role) => void): void {
    this.raft.onStateChange((s) => {
      const waiters = [...this.waiters];
      this.waiters.clear();
      for (const w of waiters) w();
      const was = this.role;
      this.role = s.role;
      changed(s, was);
    });
    this.role = this.raft.status().role;
  }

  get closing(): boolean {
    return this.closed;
  }

  /** beginClosing marks the member as closing: it leads no more, and waits end. */
  beginClosing(): void {
    this.closed = true;
  }

  leader(): string {
    return this.raft.status().leader;
  }

  isLeader(): boolean {
    return this.role === 'leader' && !this.closed;
  }

  nextStateChange(): { promise: Promise<void>; cancel: () => void } {
    let fire!: () => void;
    const promise = new Promise<void>((resolve) => (fire = resolve));
    this.waiters.add(fire);
    return { promise, cancel: () => this.waiters.delete(fire) };
  }

  async waitForStateChange(ms: number): Promise<void> {
    const change = this.nextStateChange();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([change.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    change.cancel();
  }

  async waitForLeader(not: string, ms: number): Promise<void> {
    const until = performance.now() + ms;
    for (;;) {
      const leader = this.leader();
      if ((leader !== '' && leader !== not) || this.closed) return;
      const left = until - performance.now();
      if (left <= 0) return;
      // Look again every 100 ms also without a change: closing does not fire one.
      await this.waitForStateChange(Math.min(left, 100));
    }
  }

  /** handOver moves leadership to another voter if this member leads (within 1 s, best effort; failures are logged). */
  async handOver(): Promise<void> {
    const st = this.raft.status();
    if (st.role !== 'leader') return;
    const others = st.membership.voters.filter((v) => v !== this.name);
    if (others.length === 0) return;
    const to = others[0]!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.raft.transferLeadership(to),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), handOverTimeoutMs);
        }),
      ]);
      this.log.info({ to }, 'handed leadership over before shutting down');
    } catch (err) {
      this.log.info({ to, err: err instanceof Error ? err.message : String(err) }, 'could not hand leadership over before shutting down');
    } finally {
      clearTimeout(timer);
    }
  }
}
