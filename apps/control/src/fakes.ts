/**
 * Test doubles for the unit tests of the control plane's parts: FakeRaft stands for the Raft
 * node (role, leader, voters, state changes told as RaftNode tells them), leadershipOf is the
 * Leadership of member c1 over one, callContext is an API call, and failedWith checks a gRPC
 * failure. Not used outside tests.
 */
import pino from 'pino';
import { GrpcError } from '@tugboat/proto';
import type { CallContext } from '@tugboat/proto';
import type { Role, StateChange } from '@tugboat/raft';
import { Leadership } from './leadership.ts';
import type { RaftRole } from './leadership.ts';

export const silentLog = pino({ level: 'silent' });

export class FakeRaft implements RaftRole {
  role: Role = 'follower';
  leader = '';
  voters: string[] = [];
  term = 1;
  /** transferLeadership's answer; by default it completes at once. */
  transfer: (to: string) => Promise<void> = () => Promise.resolve();
  /** readIndex's answer; by default the read is confirmed at once. */
  readIndex: () => Promise<void> = () => Promise.resolve();
  private readonly listeners = new Set<(s: StateChange) => void>();

  status(): { role: Role; leader: string; membership: { voters: readonly string[] } } {
    return { role: this.role, leader: this.leader, membership: { voters: this.voters } };
  }

  onStateChange(listener: (s: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  transferLeadership(to: string): Promise<void> {
    return this.transfer(to);
  }

  /** change sets the role and leader of a new term and tells the listeners. */
  change(role: Role, leader: string): void {
    this.role = role;
    this.leader = leader;
    this.term++;
    for (const l of this.listeners) l({ role, leader, term: this.term });
  }
}

/** leadershipOf is the Leadership of member c1, following `raft`. */
export function leadershipOf(raft: FakeRaft): Leadership {
  const leadership = new Leadership('c1', raft, silentLog);
  leadership.follow(() => {});
  return leadership;
}

/** callContext is a call with `deadlineMs` left (none by default) and the given metadata keys set. */
export function callContext(opts: { deadlineMs?: number; metadata?: readonly string[] } = {}): CallContext {
  const keys = new Set(opts.metadata ?? []);
  return {
    deadline: opts.deadlineMs === undefined ? Infinity : Date.now() + opts.deadlineMs,
    signal: new AbortController().signal,
    metadata: { get: (key: string) => (keys.has(key) ? ['1'] : []) },
  } as unknown as CallContext;
}

/** failedWith is an assert.rejects check: a GrpcError with `code` and a message matching `message`. */
export function failedWith(code: number, message: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof GrpcError && e.code === code && message.test(e.message);
}
