/**
 * ForwardBatches passes the object writes this member was sent on to one leader API address
 * in batches (proto/tug/v1/forward.proto): the writes that arrive within one turn of the event
 * loop go in one ForwardService.Forward call, cut into several calls when their bytes would pass
 * `maxBatchBytes`. Under load a follower then costs the leader one call per batch, not one per
 * write; a lone write waits for nothing but the end of the current turn.
 *
 * Each write keeps its own deadline (sent along, and enforced here) and cancellation (a
 * cancelled write is answered at once; the leader may still apply it, as with any write whose
 * answer is lost). A failed batch call fails each of its writes with that call's error.
 */
import { GrpcError, Status } from '@tugboat/proto';
import type { ForwardService, ForwardedResult, ForwardedWriteSchema, ServiceClient, StatusCode } from '@tugboat/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';

/** ForwardedCall is an ObjectService write as it is passed on. */
export type ForwardedCall = MessageInitShape<typeof ForwardedWriteSchema>['call'];

interface Pending {
  readonly write: MessageInitShape<typeof ForwardedWriteSchema>;
  readonly bytes: number;
  readonly deadline: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  settled: boolean;
}

export interface ForwardBatchesOptions {
  readonly client: ServiceClient<typeof ForwardService>;
  /** metadata of every batch call (the forwarded mark). */
  readonly metadata: Record<string, string>;
  /** Most bytes of writes in one call (the leader refuses larger messages). */
  readonly maxBatchBytes: number;
}

/** perWriteBytes bounds what a write adds to a batch beyond its objects (names, ids, framing). */
const perWriteBytes = 1_024;

export class ForwardBatches {
  private readonly opts: ForwardBatchesOptions;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(opts: ForwardBatchesOptions) {
    this.opts = opts;
  }

  /** send passes one write on; resolves with the leader's answer, or rejects with its status. */
  send(call: NonNullable<ForwardedCall>, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const p: Pending = {
        write: { call, timeoutMs: Math.max(1, Math.round(timeoutMs)) },
        bytes: writeBytes(call),
        deadline: Date.now() + timeoutMs,
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        settled: false,
      };
      const timer = setTimeout(() => settle(p, new GrpcError(Status.DEADLINE_EXCEEDED, 'the leader did not answer the forwarded write in time')), timeoutMs);
      const onAbort = (): void => settle(p, new GrpcError(Status.CANCELLED, 'the write was cancelled by its caller'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(p);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queued = this.queue.filter((p) => !p.settled);
    this.queue = [];
    let batch: Pending[] = [];
    let bytes = 0;
    for (const p of queued) {
      if (batch.length > 0 && bytes + p.bytes > this.opts.maxBatchBytes) {
        void this.call(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(p);
      bytes += p.bytes;
    }
    if (batch.length > 0) void this.call(batch);
  }

  private async call(batch: Pending[]): Promise<void> {
    const timeoutMs = Math.max(1, Math.max(...batch.map((p) => p.deadline)) - Date.now());
    try {
      const res = await this.opts.client.forward({ writes: batch.map((p) => p.write) }, { timeoutMs, metadata: this.opts.metadata });
      batch.forEach((p, i) => answer(p, res.results[i]));
    } catch (err) {
      for (const p of batch) settle(p, err);
    }
  }
}

function answer(p: Pending, r: ForwardedResult | undefined): void {
  if (r === undefined) settle(p, new GrpcError(Status.INTERNAL, 'the leader answered fewer forwarded writes than it was sent'));
  else if (r.outcome.case !== undefined) settle(p, undefined, r.outcome.value);
  else settle(p, new GrpcError(r.code as StatusCode, r.message));
}

function settle(p: Pending, err: unknown, value?: unknown): void {
  if (p.settled) return;
  p.settled = true;
  if (err === undefined) p.resolve(value);
  else p.reject(err);
}

/** writeBytes estimates what a write adds to a batch message. */
function writeBytes(call: NonNullable<ForwardedCall>): number {
  switch (call.case) {
    case 'create':
    case 'update':
      return (call.value.object?.length ?? 0) + perWriteBytes;
    case 'txn':
      return (call.value.ops ?? []).reduce((n, op) => n + (op.op?.case === 'create' || op.op?.case === 'update' ? op.op.value.length : 0) + perWriteBytes, perWriteBytes);
    default:
      return perWriteBytes;
  }
}
