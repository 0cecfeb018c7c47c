import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue, retryDelay } from './workqueue.ts';

describe('WorkQueue', () => {
  it('retry delays double from the base up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 10].map((n) => retryDelay(n, 50, 1_000)), [50, 100, 200, 400, 1_000]);
  });

  it('processes a key added many times once, and never two workers on one key', async () => {
    const q = new WorkQueue();
    const abort = new AbortController();
    const seen: string[] = [];
    let active = 0;
    let maxActive = 0;
    for (const k of ['a', 'b', 'a', 'a', 'c']) q.add(k);
    const done = q.run(abort.signal, 4, async (key) => {
      active++;
      maxActive = Math.max(maxActive, active);
      seen.push(key);
      if (key === 'a' && seen.filter((k) => k === 'a').length === 1) q.add('a'); // added while active: runs again after
      await sleep(10);
      active--;
    }, () => assert.fail('no errors'));
    await sleep(80);
    abort.abort();
    await done;
    assert.deepEqual(seen.sort(), ['a', 'a', 'b', 'c']);
    assert.ok(maxActive <= 3);
  });

  it('retries a failing key with back-off and resets it after a success', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 40 });
    const abort = new AbortController();
    const at: number[] = [];
    const errors: number[] = [];
    const t0 = Date.now();
    q.add('k');
    const done = q.run(abort.signal, 1, async () => {
      at.push(Date.now() - t0);
      if (at.length < 4) throw new Error('not yet');
    }, (_key, _err, retryInMs) => errors.push(retryInMs));
    await sleep(200);
    abort.abort();
    await done;
    assert.deepEqual(errors, [10, 20, 40]);
    assert.equal(at.length, 4);
    assert.ok(at[3]! >= 70, `retried after the delays: ${at.join(', ')}`);
    assert.equal(q.failures('k'), 0);
  });

  it('addAfter delays a key, and stops with the signal', async () => {
    const q = new WorkQueue();
    const abort = new AbortController();
    const seen: string[] = [];
    q.addAfter('late', 30);
    q.add('now');
    const done = q.run(abort.signal, 1, async (key) => void seen.push(key), () => undefined);
    await sleep(10);
    assert.deepEqual(seen, ['now']);
    await sleep(40);
    assert.deepEqual(seen, ['now', 'late']);
    abort.abort();
    await done;
    q.add('after');
    assert.equal(q.length, 0, 'a stopped queue takes nothing');
  });
});
