import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory } from './linearizability.ts';
import type { Operation, StoreInput, StoreOutput } from './linearizability.ts';

/** op builds an operation: [call, ret] (ret undefined: unknown outcome). */
let nextId = 0;
function op(client: string, call: number, ret: number | undefined, input: StoreInput, output?: StoreOutput): Operation {
  return { id: nextId++, client, input, call, ret: ret ?? Infinity, output: ret === undefined ? undefined : output };
}
const ok = { result: 'ok' } as const;
const read = (value: string | null): StoreOutput => ({ result: 'value', value });

describe('linearizability checker', () => {
  it('accepts sequential and overlapping histories that some order explains', () => {
    const h = [
      op('a', 0, 10, { op: 'create', key: 'k', value: 'v1' }, ok),
      op('b', 5, 15, { op: 'get', key: 'k' }, read(null)), // overlaps the create: before it
      op('a', 20, 30, { op: 'update', key: 'k', value: 'v2', expect: 'v1' }, ok),
      op('b', 25, 35, { op: 'get', key: 'k' }, read('v1')), // overlaps the update: before it
      op('c', 40, 50, { op: 'get', key: 'k' }, read('v2')),
      op('c', 60, 70, { op: 'delete', key: 'k', expect: 'v1' }, { result: 'conflict' }),
      op('a', 80, 90, { op: 'delete', key: 'k' }, ok),
      op('b', 95, 99, { op: 'update', key: 'k', value: 'v3' }, { result: 'notFound' }),
    ];
    assert.deepEqual(checkHistory(h), { ok: true, keys: 1, operations: 8 });
  });

  it('refuses a stale read, with a minimal counterexample', () => {
    const h = [
      op('a', 0, 10, { op: 'create', key: 'k', value: 'v1' }, ok),
      op('x', 1, 2, { op: 'get', key: 'other' }, read(null)),
      op('a', 20, 30, { op: 'update', key: 'k', value: 'v2' }, ok),
      op('b', 40, 50, { op: 'get', key: 'k' }, read('v1')), // after v2 was acknowledged
      op('c', 60, 70, { op: 'get', key: 'k' }, read('v2')),
    ];
    const r = checkHistory(h);
    assert.equal(r.ok, false);
    if (r.ok !== false) return;
    assert.equal(r.key, 'k');
    assert.deepEqual(
      r.counterexample.map((o) => o.client),
      ['a', 'b'],
      'the update and the stale read are enough: the create and the later read are left out',
    );
    assert.match(r.message, /k: not linearizable; a minimal counterexample:\n {2}\[20\.0, 30\.0\] a: update k=v2 -> ok\n {2}\[40\.0, 50\.0\] b: get k -> v1/);
  });

  it('an unknown write may have taken effect, or not', () => {
    const create = op('a', 0, 10, { op: 'create', key: 'k', value: 'v1' }, ok);
    const lost = op('a', 20, undefined, { op: 'update', key: 'k', value: 'v2' }); // timed out
    assert.equal(checkHistory([create, lost, op('b', 100, 110, { op: 'get', key: 'k' }, read('v2'))]).ok, true, 'it took effect');
    assert.equal(checkHistory([create, lost, op('b', 100, 110, { op: 'get', key: 'k' }, read('v1'))]).ok, true, 'it did not (yet)');
    // But not both: once v2 was seen, v1 cannot come back.
    const flip = [create, lost, op('b', 100, 110, { op: 'get', key: 'k' }, read('v2')), op('b', 120, 130, { op: 'get', key: 'k' }, read('v1'))];
    assert.equal(checkHistory(flip).ok, false);
    // An unknown write cannot take effect before it was invoked.
    const early = [create, op('b', 5, 15, { op: 'get', key: 'k' }, read('v2')), op('a', 20, undefined, { op: 'update', key: 'k', value: 'v2' })];
    assert.equal(checkHistory(early).ok, false);
  });

  it('a write acknowledged and then not seen is lost', () => {
    const h = [
      op('a', 0, 10, { op: 'create', key: 'k', value: 'v1' }, ok),
      op('b', 20, 30, { op: 'get', key: 'k' }, read(null)),
    ];
    assert.equal(checkHistory(h).ok, false);
  });

  it('a compare-and-swap that succeeded against a value no longer there is caught', () => {
    const h = [
      op('a', 0, 10, { op: 'create', key: 'k', value: 'v1' }, ok),
      op('a', 20, 30, { op: 'update', key: 'k', value: 'v2', expect: 'v1' }, ok),
      op('b', 40, 50, { op: 'update', key: 'k', value: 'v3', expect: 'v1' }, ok), // should be a conflict
    ];
    assert.equal(checkHistory(h).ok, false);
  });

  it('splits a list into a read of each object it could hold', () => {
    const h = [
      op('a', 0, 10, { op: 'create', key: 'k1', value: 'a' }, ok),
      op('a', 20, 30, { op: 'create', key: 'k2', value: 'b' }, ok),
      op('b', 40, 50, { op: 'list', keys: ['k1', 'k2', 'k3'] }, { result: 'values', values: { k1: 'a', k2: 'b' } }),
    ];
    assert.deepEqual(checkHistory(h), { ok: true, keys: 3, operations: 3 });
    const missing = [...h.slice(0, 2), op('b', 40, 50, { op: 'list', keys: ['k1', 'k2'] }, { result: 'values', values: { k1: 'a' } })];
    const r = checkHistory(missing);
    assert.equal(r.ok === false && r.key, 'k2');
  });

  it('decides a few hundred concurrent operations on one object quickly', () => {
    // Eight clients, each a chain of CAS updates, reads and writes overlapping its neighbours'.
    const h: Operation[] = [op('init', 0, 1, { op: 'create', key: 'k', value: 'v0' }, ok)];
    let value = 'v0';
    for (let i = 1; i <= 300; i++) {
      const t = i * 10;
      const next = `v${i}`;
      h.push(op(`c${i % 8}`, t - 15, t + 15, { op: 'update', key: 'k', value: next, expect: value }, ok));
      h.push(op(`r${i % 8}`, t + 1, t + 30, { op: 'get', key: 'k' }, read(i % 2 === 0 ? next : value)));
      value = next;
    }
    const start = performance.now();
    const r = checkHistory(h);
    assert.equal(r.ok, true, JSON.stringify(r).slice(0, 300));
    assert.ok(performance.now() - start < 5_000);
  });

  it('a long failing history is cut to where it first fails, and only its tail shown when still long', () => {
    // 3,000 writes one after another, each read back; the read after write 2,000 sees the value
    // before it. The history first fails once that read has answered: at the next call (op 4,002).
    const h: Operation[] = [op('init', 0, 1, { op: 'create', key: 'k', value: 'v0' }, ok)];
    for (let i = 1; i <= 3_000; i++) {
      const t = i * 10;
      h.push(op('w', t, t + 2, { op: 'update', key: 'k', value: `v${i}`, expect: `v${i - 1}` }, ok));
      h.push(op('r', t + 4, t + 6, { op: 'get', key: 'k' }, read(i === 2_000 ? `v${i - 1}` : `v${i}`)));
    }
    const start = performance.now();
    const r = checkHistory(h);
    assert.ok(performance.now() - start < 10_000, 'decided in seconds, not minimized for ever');
    assert.equal(r.ok, false);
    assert.ok(r.ok === false && r.message.includes('the first 4002 operations cannot be linearized'), r.ok === false ? r.message.slice(0, 200) : '');
    assert.ok(r.ok === false && r.counterexample.some((o) => o.output?.result === 'value' && o.output.value === 'v1999'), 'the stale read is in it');
    assert.equal(r.ok === false && r.counterexample.length, 20);
  });
});
