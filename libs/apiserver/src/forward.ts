/**
 * ForwardService (proto/tug/v1/forward.proto) as the leader serves it: each write of a batch a
 * member passed on runs through ObjectService exactly as if it had been sent here (the batch
 * call's metadata, which marks it forwarded, and the write's own deadline), all of them at
 * once, and the outcomes are answered in order: an object, or a status.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { GrpcError, Status, isGrpcError } from '@tugboat/proto';
import type { CallContext, ForwardService, ForwardedResultSchema, ForwardedWrite, ObjectService, ServiceImpl } from '@tugboat/proto';
import { allowClusterCall } from './authorization.ts';
import { toGrpcError } from './errors.ts';

export function forwardService(objects: ServiceImpl<typeof ObjectService>): ServiceImpl<typeof ForwardService> {
  const run = async (w: ForwardedWrite, ctx: CallContext): Promise<MessageInitShape<typeof ForwardedResultSchema>> => {
    const own: CallContext = w.timeoutMs > 0 ? { ...ctx, deadline: Math.min(deadlineMs(ctx), Date.now() + w.timeoutMs) } : ctx;
    try {
      switch (w.call.case) {
        case 'create':
          return { outcome: { case: 'create', value: await objects.create(w.call.value, own) } };
        case 'update':
          return { outcome: { case: 'update', value: await objects.update(w.call.value, own) } };
        case 'delete':
          return { outcome: { case: 'delete', value: await objects.delete(w.call.value, own) } };
        case 'txn':
          return { outcome: { case: 'txn', value: await objects.txn(w.call.value, own) } };
        default:
          throw new GrpcError(Status.INVALID_ARGUMENT, 'a forwarded write needs one of create, update, delete or txn');
      }
    } catch (err) {
      const e = isGrpcError(err) ? err : toGrpcError(err, `forwarded ${w.call.case ?? 'write'}`);
      return { code: e.code, message: e.message };
    }
  };
  return {
    async forward(req, ctx) {
      allowClusterCall(ctx, 'forward writes');
      return { results: await Promise.all(req.writes.map((w) => run(w, ctx))) };
    },
  };
}

function deadlineMs(ctx: CallContext): number {
  const d = ctx.deadline;
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) ? at : Infinity;
}
