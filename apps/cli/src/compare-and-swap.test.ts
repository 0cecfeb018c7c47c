// compare-and-swap.test.ts: retryOnConflict runs an attempt again only after a lost race, and
// never more often than it was told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '@tugboat/proto';
import { AlreadyExistsError, ConflictError } from '@tugboat/client';
import { retryOnConflict } from './compare-and-swap.ts';

/** attemptsFailing returns an attempt that throws errors[0], errors[1], ... then resolves "done". */
function attemptsFailing(errors: readonly Error[]): { attempt: () => Promise<string>; runs: () => number } {
  let runs = 0;
  return {
    attempt: async () => {
      const err = errors[runs++];
      if (err !== undefined) throw err;
      return 'done';
    },
    runs: () => runs,
  };
}

test('a conflict runs the attempt again, until it resolves', async () => {
  const a = attemptsFailing([new ConflictError(Status.ABORTED, 'stale'), new ConflictError(Status.ABORTED, 'stale')]);
  assert.equal(await retryOnConflict(3, a.attempt), 'done');
  assert.equal(a.runs(), 3);
});

test('after `attempts` conflicts in a row, the last conflict is thrown as it is', async () => {
  const last = new ConflictError(Status.ABORTED, 'third');
  const a = attemptsFailing([new ConflictError(Status.ABORTED, 'first'), new ConflictError(Status.ABORTED, 'second'), last]);
  await assert.rejects(retryOnConflict(3, a.attempt), (err) => err === last);
  assert.equal(a.runs(), 3);
});

test('any other error ends it at once', async () => {
  const a = attemptsFailing([new Error('refused')]);
  await assert.rejects(retryOnConflict(3, a.attempt), /refused/);
  assert.equal(a.runs(), 1);
});

test('lostRace says which errors are lost races', async () => {
  const taken = new AlreadyExistsError(Status.ALREADY_EXISTS, 'taken');
  await assert.rejects(retryOnConflict(3, attemptsFailing([taken]).attempt), (err) => err === taken);
  const a = attemptsFailing([taken]);
  assert.equal(await retryOnConflict(3, a.attempt, (err) => err === taken), 'done');
  assert.equal(a.runs(), 2);
});
