/**
 * ReadIndex makes a read linearizable (ReadIndex, dissertation §6.4): it confirms the read index
 * with the leader and waits until this member has applied it, after which a read of the local
 * store sees every write acknowledged before the call. Reads with stale_ok skip it.
 *
 * When the leader changes meanwhile (a read sent to a leader that died gets no answer) it asks
 * again; with no leader it waits for one; all within the call's deadline (`defaultTimeoutMs`
 * without one): DEADLINE_EXCEEDED when the leader did not confirm in time, UNAVAILABLE when no
 * leader was known by then.
 */
import { GrpcError, Status } from '@tugboat/proto';
import type { CallContext } from '@tugboat/proto';
import { isNotLeaderError } from '@tugboat/raft';
import { toGrpcError } from '@tugboat/apiserver';
import { remainingMs } from './deadline.ts';
import type { LeaderState } from './leadership.ts';

export interface ReadIndexOptions {
  readonly leadership: LeaderState;
  /** raft confirms a read index (RaftNode has it): rejects with NotLeaderError when no leader is known. */
  readonly raft: { readIndex(): Promise<void> };
  /** Timeout of a read whose call has no deadline, ms. */
  readonly defaultTimeoutMs: number;
}

/** attemptMsMax bounds one attempt: a lost ReadIndex message costs one attempt, not the whole deadline. */
const attemptMsMax = 2_000;

export class ReadIndex {
  private readonly opts: ReadIndexOptions;

  constructor(opts: ReadIndexOptions) {
    this.opts = opts;
  }

  /** wait resolves once the local store reflects every write acknowledged before the call. */
  async wait(ctx: CallContext): Promise<void> {
    const { leadership: l, raft } = this.opts;
    const deadline = performance.now() + remainingMs(ctx, this.opts.defaultTimeoutMs);
    for (;;) {
      if (l.closing) throw new GrpcError(Status.UNAVAILABLE, `${l.name} is shutting down; read at another member`);
      const left = deadline - performance.now();
      if (left <= 0) throw new GrpcError(Status.DEADLINE_EXCEEDED, `read at ${l.name}: the leader did not confirm the read in time`);
      if (l.leader() === '') {
        await l.waitForLeader('', Math.min(left, 1_000));
        if (l.leader() === '' && deadline - performance.now() <= 0) {
          throw new GrpcError(Status.UNAVAILABLE, `read at ${l.name}: no leader is known (election in progress); retry, or read with stale_ok`);
        }
        continue;
      }
      const change = l.nextStateChange();
      let timer: NodeJS.Timeout | undefined;
      try {
        const r = await Promise.race([
          raft.readIndex().then(() => 'read' as const),
          change.promise.then(() => 'changed' as const),
          new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.min(left, attemptMsMax)))),
        ]);
        if (r === 'read') return;
      } catch (err) {
        if (!isNotLeaderError(err)) throw toGrpcError(err, 'read');
        await l.waitForStateChange(Math.min(left, 50));
      } finally {
        clearTimeout(timer);
        change.cancel();
      }
    }
  }
}
