import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffKey, formatDuration, RestartBackoff } from './backoff.ts';

describe('RestartBackoff', () => {
  const key = backoffKey('uid-1', 'web');
  const run = (startedAtMs: number, finishedAtMs: number) => ({ startedAtMs, finishedAtMs });

  it('lets the first restart happen at once, then doubles the wait up to the maximum', () => {
    const b = new RestartBackoff({ initialMs: 10_000, maxMs: 40_000 });
    assert.equal(b.remainingMs(key, run(0, 1000), 1000), 0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      b.recordRestart(key, run(1, 1000));
      delays.push(b.delayMs(key));
    }
    assert.deepEqual(delays, [10_000, 20_000, 40_000, 40_000, 40_000]);
  });

  it('counts the wait from when the container finished', () => {
    const b = new RestartBackoff();
    b.recordRestart(key, run(1, 1000));
    assert.equal(b.remainingMs(key, run(2000, 5000), 6000), 9000);
    assert.equal(b.remainingMs(key, run(2000, 5000), 15_000), 0);
  });

  it('starts over after a run of resetAfterRunMs', () => {
    const b = new RestartBackoff({ resetAfterRunMs: 60_000 });
    b.recordRestart(key, run(1, 1000));
    b.recordRestart(key, run(1, 1000));
    assert.equal(b.delayMs(key), 20_000);
    const long = run(10_000, 80_000);
    assert.equal(b.remainingMs(key, long, 80_000), 0, 'a long clean run does not wait');
    b.recordRestart(key, long);
    assert.equal(b.delayMs(key), 10_000);
  });

  it('forgets the entries of one pod only', () => {
    const b = new RestartBackoff();
    b.next(backoffKey('a', 'x'));
    b.next(backoffKey('ab', 'x'));
    b.forgetPod('a');
    assert.equal(b.delayMs(backoffKey('a', 'x')), 0);
    assert.equal(b.delayMs(backoffKey('ab', 'x')), 10_000);
  });

  it('refuses a maximum below the initial delay', () => {
    assert.throws(() => new RestartBackoff({ initialMs: 10, maxMs: 5 }), /initialMs/);
  });

  it('formats delays as the messages show them', () => {
    assert.equal(formatDuration(10_000), '10s');
    assert.equal(formatDuration(80_000), '1m20s');
    assert.equal(formatDuration(300_000), '5m0s');
    assert.equal(formatDuration(50), '50ms');
  });
});
