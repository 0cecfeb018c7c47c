import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitingCalls } from './waiting-calls.ts';

test('a waiting call gets its result, its mapped failure, or failAll\'s error, whichever comes first', async () => {
  const calls = new WaitingCalls<Error>();
  assert.equal(await calls.wait(Promise.resolve(7), () => new Error('unused')), 7);
  await assert.rejects(calls.wait(Promise.reject(new Error('raft')), (err) => new Error(`mapped: ${(err as Error).message}`)), /^Error: mapped: raft$/);
  assert.equal(calls.size, 0, 'settled calls are forgotten');

  let resolveLate!: (v: number) => void;
  const stuck = calls.wait(new Promise<number>((r) => (resolveLate = r)), () => new Error('unused'));
  assert.equal(calls.size, 1);
  calls.failAll(new Error('stepped down'));
  resolveLate(1);
  await assert.rejects(stuck, /stepped down/);
  assert.equal(calls.size, 0);
});
