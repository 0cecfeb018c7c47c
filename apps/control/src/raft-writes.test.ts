import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcError, Status } from '@tugboat/proto';
import type { Op, TxnResult, WriteOptions } from '@tugboat/store';
import { callContext, failedWith } from './fakes.ts';
import { RaftWrites } from './raft-writes.ts';

const ops: Op[] = [{ op: 'delete', ref: { kind: 'ConfigMap', namespace: 'default', name: 'a' } }];

/** pendingStore answers no write until told: `answer` applies the oldest with `result`. */
function pendingStore(): { write: (o: readonly Op[], opts: WriteOptions) => Promise<TxnResult>; calls: WriteOptions[]; answer: (r: TxnResult | Error) => void } {
  const calls: WriteOptions[] = [];
  const waiting: ((r: TxnResult | Error) => void)[] = [];
  return {
    calls,
    write: (_o, opts) => {
      calls.push(opts);
      return new Promise((resolve, reject) => waiting.push((r) => (r instanceof Error ? reject(r) : resolve(r))));
    },
    answer: (r) => waiting.shift()?.(r),
  };
}

function writes(maxInflight = 10): { w: RaftWrites; store: ReturnType<typeof pendingStore>; member: { name: string; closing: boolean } } {
  const store = pendingStore();
  const member = { name: 'c1', closing: false };
  return { w: new RaftWrites({ member, store, timeoutMs: 10_000, maxInflight }), store, member };
}


test('a write gets the call deadline as its timeout (writeTimeoutMs without one) and the request id', async () => {
  const { w, store } = writes();
  const done = w.propose(ops, 'r1', callContext(), 'delete');
  void w.propose(ops, 'r2', callContext({ deadlineMs: 3_000 }), 'delete').catch(() => {});
  store.answer({ objects: [null] } as unknown as TxnResult);
  assert.deepEqual(await done, [null]);
  assert.deepEqual(store.calls[0], { requestId: 'r1', timeoutMs: 10_000 });
  assert.equal(store.calls[1]?.requestId, 'r2');
  assert.ok(store.calls[1]!.timeoutMs! <= 3_000 && store.calls[1]!.timeoutMs! > 2_000);
});

test('writes waiting when leadership is lost fail at once with UNAVAILABLE; a later answer changes nothing', async () => {
  const { w, store } = writes();
  const a = w.propose(ops, 'r1', callContext(), 'delete');
  const b = w.propose(ops, 'r2', callContext(), 'delete');
  w.leadershipLost();
  await assert.rejects(a, failedWith(Status.UNAVAILABLE, /^c1 lost leadership before the write was applied; retry with the same request id$/));
  await assert.rejects(b, failedWith(Status.UNAVAILABLE, /lost leadership/));
  store.answer({ objects: [null] } as unknown as TxnResult);
  // The slots are free again.
  const c = w.propose(ops, 'r3', callContext(), 'delete');
  store.answer(new GrpcError(Status.ABORTED, 'conflict'));
  store.answer(new GrpcError(Status.ABORTED, 'conflict'));
  await assert.rejects(c, failedWith(Status.ABORTED, /^conflict$/));
});

test('at most maxInflight writes wait: the next is RESOURCE_EXHAUSTED', async () => {
  const { w } = writes(2);
  void w.propose(ops, 'r1', callContext(), 'delete').catch(() => {});
  void w.propose(ops, 'r2', callContext(), 'delete').catch(() => {});
  await assert.rejects(w.propose(ops, 'r3', callContext(), 'delete'), failedWith(Status.RESOURCE_EXHAUSTED, /^c1 has 2 writes in flight, the most it takes; retry later$/));
  w.shutDown();
});

test('a closing member refuses writes, and shutDown fails the waiting ones, with UNAVAILABLE', async () => {
  const { w, member } = writes();
  const waiting = w.propose(ops, 'r1', callContext(), 'delete');
  member.closing = true;
  await assert.rejects(w.propose(ops, 'r2', callContext(), 'delete'), failedWith(Status.UNAVAILABLE, /^c1 is shutting down; retry with the same request id$/));
  w.shutDown();
  await assert.rejects(waiting, failedWith(Status.UNAVAILABLE, /shutting down/));
});
