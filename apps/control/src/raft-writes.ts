/**
 * RaftWrites is the leader's write path: it proposes writes through the replicated store and
 * keeps track of those waiting on Raft.
 *
 * - At most `maxInflight` writes wait at once (RESOURCE_EXHAUSTED beyond); a write without a
 *   deadline gets `timeoutMs`.
 * - A write waiting on a leader that steps down (leadershipLost) or shuts down (shutDown) fails
 *   at once with UNAVAILABLE: the client retries with the same request id, and the store
 *   answers the first outcome if it was applied after all.
 * - writeInternal writes the control plane's own objects (member directory, initial objects,
 *   released allocations), outside the bound.
 */
import { GrpcError, Status } from '@tugboat/proto';
import type { CallContext } from '@tugboat/proto';
import type { Op, StoredObject, TxnResult, WriteOptions } from '@tugboat/store';
import { toGrpcError } from '@tugboat/apiserver';
import type { WriteVerb } from '@tugboat/apiserver';
import { remainingMs } from './deadline.ts';
import type { LeaderState } from './leadership.ts';
import { WaitingCalls } from './waiting-calls.ts';

/** StoreWriter is where RaftWrites writes (ReplicatedStore over the Raft node has it). */
export interface StoreWriter {
  /** write applies `ops` atomically; throws the StoreError of the op that failed, or the log's error. */
  write(ops: readonly Op[], opts: WriteOptions): Promise<TxnResult>;
}

export interface RaftWritesOptions {
  readonly member: Pick<LeaderState, 'name' | 'closing'>;
  readonly store: StoreWriter;
  /** Timeout of a write whose call has no deadline, ms. */
  readonly timeoutMs: number;
  /** Most writes waiting on Raft at once. */
  readonly maxInflight: number;
}

/** internalWriteTimeoutMs bounds a write of the control plane's own objects. */
const internalWriteTimeoutMs = 5_000;

export class RaftWrites {
  private readonly opts: RaftWritesOptions;
  /** The writes waiting on Raft. */
  private readonly inflight = new WaitingCalls<GrpcError>();

  constructor(opts: RaftWritesOptions) {
    this.opts = opts;
  }

  /** propose writes `ops` (this member leads) and resolves with their objects; failures are GrpcErrors. */
  async propose(ops: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> {
    const { member, maxInflight } = this.opts;
    if (member.closing) throw this.shuttingDown();
    if (this.inflight.size >= maxInflight) {
      throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${member.name} has ${this.inflight.size} writes in flight, the most it takes; retry later`);
    }
    const timeoutMs = remainingMs(ctx, this.opts.timeoutMs);
    const result = await this.inflight.wait(this.opts.store.write(ops, { requestId, timeoutMs }), (err) => toGrpcError(err, verb, verb));
    return result.objects;
  }

  /** writeInternal writes the control plane's own objects (leader only); throws StoreError or driver errors. */
  async writeInternal(ops: readonly Op[]): Promise<void> {
    await this.opts.store.write(ops, { timeoutMs: internalWriteTimeoutMs });
  }

  /** leadershipLost fails every waiting write: this member stepped down. */
  leadershipLost(): void {
    this.inflight.failAll(new GrpcError(Status.UNAVAILABLE, `${this.opts.member.name} lost leadership before the write was applied; retry with the same request id`));
  }

  /** shutDown fails every waiting write: this member is shutting down. */
  shutDown(): void {
    this.inflight.failAll(this.shuttingDown());
  }

  private shuttingDown(): GrpcError {
    return new GrpcError(Status.UNAVAILABLE, `${this.opts.member.name} is shutting down; retry with the same request id`);
  }
}
