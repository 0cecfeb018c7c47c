import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { ForwardResponseSchema, GrpcError, Status } from '@tugboat/proto';
import type { ForwardRequest, ForwardResponse, ForwardService, ServiceClient } from '@tugboat/proto';
import { failedWith } from './fakes.ts';
import { ForwardBatches } from './forward-batches.ts';

/** leaderClient answers each Forward call with `answer` and records the calls. */
function leaderClient(answer: (req: ForwardRequest) => Promise<ForwardResponse>): { client: ServiceClient<typeof ForwardService>; calls: ForwardRequest[] } {
  const calls: ForwardRequest[] = [];
  const client = {
    forward: (req: ForwardRequest) => {
      calls.push(req);
      return answer(req);
    },
  } as unknown as ServiceClient<typeof ForwardService>;
  return { client, calls };
}

const bytes = (n: number): Uint8Array => new Uint8Array(n);
const never = new AbortController().signal;

/** echo answers every create with its own object, and a txn with FAILED_PRECONDITION. */
const echo = (req: ForwardRequest): Promise<ForwardResponse> =>
  Promise.resolve(
    create(ForwardResponseSchema, {
      results: req.writes.map((w) =>
        w.call.case === 'create' ? { outcome: { case: 'create' as const, value: { object: w.call.value.object } } } : { code: Status.FAILED_PRECONDITION, message: 'refused' },
      ),
    }),
  );

test('writes of one turn share one call, each gets its own outcome, in order', async () => {
  const { client, calls } = leaderClient(echo);
  const b = new ForwardBatches({ client, metadata: { 'tug-forwarded': 'c2' }, maxBatchBytes: 1 << 20 });
  const answers = await Promise.allSettled([
    b.send({ case: 'create', value: { object: bytes(3), requestId: 'a' } }, 1_000, never),
    b.send({ case: 'txn', value: { ops: [], requestId: 'b' } }, 1_000, never),
    b.send({ case: 'create', value: { object: bytes(5), requestId: 'c' } }, 1_000, never),
  ]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.writes.map((w) => w.call.case), ['create', 'txn', 'create']);
  assert.ok(calls[0]!.writes.every((w) => w.timeoutMs > 900 && w.timeoutMs <= 1_000), 'each write carries its time left');
  assert.equal(answers[0].status === 'fulfilled' && (answers[0].value as { object: Uint8Array }).object.length, 3);
  assert.ok(answers[1].status === 'rejected' && answers[1].reason instanceof GrpcError && answers[1].reason.code === Status.FAILED_PRECONDITION);
  assert.equal(answers[2].status === 'fulfilled' && (answers[2].value as { object: Uint8Array }).object.length, 5);

  await b.send({ case: 'create', value: { object: bytes(1) } }, 1_000, never);
  assert.equal(calls.length, 2, 'a later write is its own batch');
});

test('a batch is cut where its bytes would pass the limit', async () => {
  const { client, calls } = leaderClient(echo);
  const b = new ForwardBatches({ client, metadata: {}, maxBatchBytes: 10_000 });
  await Promise.all([1, 2, 3, 4].map(() => b.send({ case: 'create', value: { object: bytes(3_000) } }, 1_000, never)));
  assert.deepEqual(
    calls.map((c) => c.writes.length),
    [2, 2],
  );
});

test('a failed call fails each of its writes; a cancelled or late write is answered at once', async () => {
  const down = new GrpcError(Status.UNAVAILABLE, 'connect ECONNREFUSED');
  const { client } = leaderClient(() => Promise.reject(down));
  const b = new ForwardBatches({ client, metadata: {}, maxBatchBytes: 1 << 20 });
  const failed = [b.send({ case: 'create', value: {} }, 1_000, never), b.send({ case: 'create', value: {} }, 1_000, never)];
  for (const f of failed) await assert.rejects(f, (e) => e === down);

  const slow = leaderClient(() => new Promise(() => undefined)); // never answers
  const s = new ForwardBatches({ client: slow.client, metadata: {}, maxBatchBytes: 1 << 20 });
  const cancel = new AbortController();
  const cancelled = s.send({ case: 'create', value: {} }, 5_000, cancel.signal);
  const late = s.send({ case: 'create', value: {} }, 50, never);
  cancel.abort();
  await assert.rejects(cancelled, failedWith(Status.CANCELLED, /cancelled by its caller/));
  await assert.rejects(late, failedWith(Status.DEADLINE_EXCEEDED, /did not answer the forwarded write in time/));
});
