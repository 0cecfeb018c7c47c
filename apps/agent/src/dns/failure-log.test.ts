import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FailureLog } from './failure-log.ts';

function capture(): { lines: Record<string, unknown>[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'debug' }, stream) };
}

describe('FailureLog', () => {
  it('warns once per kind per interval, counting the repeats it wrote at debug', () => {
    const { lines, log } = capture();
    let now = 1_000_000;
    const f = new FailureLog(log, { intervalMs: 60_000, nowMs: () => now });
    f.report('upstream timeout', { upstream: 'a' }, 'upstream failed');
    f.report('upstream timeout', { upstream: 'a' }, 'upstream failed');
    f.report('no upstreams', {}, 'none');
    now += 59_999;
    f.report('upstream timeout', { upstream: 'a' }, 'upstream failed');
    now += 1;
    f.report('upstream timeout', { upstream: 'a' }, 'upstream failed');
    const seen = lines.map((l) => `${l['level'] === 40 ? 'warn' : 'debug'} ${String(l['kind'])} ${String(l['repeats'] ?? '-')}`);
    assert.deepEqual(seen, ['warn upstream timeout -', 'debug upstream timeout -', 'warn no upstreams -', 'debug upstream timeout -', 'warn upstream timeout 2']);
  });
});
