import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogLimiter } from './log-limiter.ts';

test('LogLimiter lets one line per key per interval through and counts the rest', () => {
  let now = 0;
  const l = new LogLimiter(1000, () => now);
  assert.equal(l.check('x'), 0);
  assert.equal(l.check('x'), undefined);
  assert.equal(l.check('x'), undefined);
  assert.equal(l.check('y'), 0);
  now = 1000;
  assert.equal(l.check('x'), 2);
});
