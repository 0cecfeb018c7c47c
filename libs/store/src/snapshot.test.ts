import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectStore, encodeCommand } from '@tugboat/store';
import type { ApplyResult, Command, Op, StoredObject } from '@tugboat/store';
import { Feeder, filled, namespace, node, pod } from './testutil.ts';

/** rng is a small seeded PRNG (mulberry32), so a failing run can be replayed by its seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
}

/** randomCommand draws a command against `store`'s state: some succeed, some fail, some repeat ids. */
function randomCommand(store: ObjectStore, rand: (n: number) => number, seq: number): Command | null {
  const nss = ['default', 'a', 'b', 'c'];
  const ns = nss[rand(nss.length)]!;
  const name = `p${rand(30)}`;
  const existing = store.list({ kind: 'Pod' }).items;
  const pick = (): StoredObject | undefined => existing[rand(Math.max(existing.length, 1))];
  const requestId = rand(4) === 0 ? `req-${rand(seq + 1)}` : undefined;
  const withId = (ops: Op[]): Command => (requestId === undefined ? { ops } : { requestId, ops });
  switch (rand(10)) {
    case 0:
      return null; // a leader no-op
    case 1:
      return withId([{ op: 'create', object: namespace(ns) }]);
    case 2:
      return rand(6) === 0 ? withId([{ op: 'delete', ref: { kind: 'Namespace', name: ns } }]) : withId([{ op: 'create', object: node(`n${rand(5)}`) }]);
    case 3:
    case 4:
      return withId([{ op: 'create', object: pod(name, ns, { image: `img:${rand(3)}`, labels: { app: `a${rand(3)}` } }) }]);
    case 5:
    case 6: {
      const o = pick();
      if (o === undefined) return withId([{ op: 'create', object: pod(name, ns) }]);
      const stale = rand(4) === 0;
      return withId([
        {
          op: 'update',
          object: rand(2) === 0 ? { ...o, spec: { containers: [{ name: 'c', image: `img:${rand(4)}` }] } } : { ...o, status: { phase: `P${rand(3)}` } },
          ...(rand(2) === 0 ? { expectedResourceVersion: stale ? '1' : o.metadata.resourceVersion } : {}),
        },
      ]);
    }
    case 7: {
      const o = pick() ?? { kind: 'Pod', metadata: { name, namespace: ns } };
      return withId([{ op: 'delete', ref: { kind: 'Pod', namespace: o.metadata.namespace ?? '', name: o.metadata.name } }]);
    }
    case 8: {
      const o = pick();
      return withId([
        { op: 'create', object: pod(`${name}-x`, ns) },
        o !== undefined ? { op: 'update', subresource: 'status', object: { ...o, status: { phase: 'Moved' } } } : { op: 'create', object: pod(name, ns) },
      ]);
    }
    default:
      return withId([{ op: 'create', object: filled({ kind: 'ConfigMap', metadata: { name: `cm${rand(5)}`, namespace: ns }, data: { k: String(rand(100)) } }) }]);
  }
}

/** summary is a comparable form of an ApplyResult. */
function summary(r: ApplyResult): string {
  return r.ok ? JSON.stringify(r) : JSON.stringify({ ok: false, revision: r.revision, duplicate: r.duplicate, name: r.error.name, message: r.error.message, details: r.error.details });
}

test('determinism: stores fed the same entries have byte-identical snapshots, equal hashes and equal results', () => {
  for (const seed of [1, 2, 3]) {
    const rand = rng(seed);
    const a = new ObjectStore({ requestIdWindow: 20 });
    const b = new ObjectStore({ requestIdWindow: 20 });
    let c: ObjectStore | undefined;
    const entries: Uint8Array[] = [];
    for (let i = 1; i <= 600; i++) {
      const cmd = randomCommand(a, rand, i);
      const data = cmd === null ? new Uint8Array(0) : encodeCommand(cmd);
      entries.push(data);
      const ra = a.apply({ index: i, term: 1, data });
      const rb = b.apply({ index: i, term: 1, data });
      assert.equal(summary(rb), summary(ra), `seed ${seed}, entry ${i}`);
      if (c !== undefined) assert.equal(summary(c.apply({ index: i, term: 1, data })), summary(ra), `seed ${seed}, entry ${i} on the restored store`);
      if (i === 300) {
        // A third member joins from a snapshot half-way.
        c = new ObjectStore({ requestIdWindow: 20 });
        c.restore(a.snapshot());
      }
    }
    const snap = a.snapshot();
    assert.deepEqual(b.snapshot(), snap, `seed ${seed}`);
    assert.deepEqual(c!.snapshot(), snap, `seed ${seed}`);
    assert.equal(b.hash(), a.hash());
    assert.equal(c!.hash(), a.hash());
    assert.ok(a.size > 10, `seed ${seed}: the run should leave objects (${a.size})`);
  }
});

test('checkSnapshot tells a snapshot it can restore from bytes it cannot, and changes nothing', () => {
  const f = new Feeder(new ObjectStore());
  f.create(namespace('default'));
  const snap = f.store.snapshot();
  const other = new ObjectStore();
  const enc = new TextEncoder();
  assert.equal(other.checkSnapshot(snap), undefined);
  assert.match(other.checkSnapshot(enc.encode('garbage')) ?? '', /JSON|truncated/);
  assert.match(other.checkSnapshot(enc.encode('{"format":"other"}\n')) ?? '', /store snapshot: unknown format "other"/);
  const cut = snap.slice(0, snap.length - 3);
  assert.match(other.checkSnapshot(cut) ?? '', /store snapshot|JSON/);
  assert.equal(other.revision, 0, 'a check restores nothing');
  assert.equal(other.checkSnapshot(snap), undefined);
  other.restore(snap);
  assert.equal(other.hash(), f.store.hash());
});

test('snapshot/restore round-trip: same objects, hash, revision, counts, request ids; snapshot again gives the same bytes', () => {
  const f = new Feeder(new ObjectStore());
  f.create(namespace('default'));
  for (let i = 0; i < 50; i++) f.raw({ requestId: `r${i}`, ops: [{ op: 'create', object: pod(`p${i}`, 'default', { labels: { '1': 'numeric key', app: 'x' } }) }] });
  f.raw({ requestId: 'bad', ops: [{ op: 'create', object: pod('p1') }] }); // fails AlreadyExists; remembered
  f.create(node('n1'));
  const snap = f.store.snapshot();
  const s2 = new ObjectStore();
  s2.restore(snap);
  assert.equal(s2.hash(), f.store.hash());
  assert.equal(s2.revision, f.store.revision);
  assert.deepEqual(s2.counts(), f.store.counts());
  assert.deepEqual(s2.list({ kind: 'Pod' }), f.store.list({ kind: 'Pod' }));
  assert.deepEqual(s2.snapshot(), snap);
  assert.ok(Object.isFrozen(s2.get({ kind: 'Pod', namespace: 'default', name: 'p3' })!.spec));
  // The request window came along: both ids answer as duplicates on the restored store.
  const g = new Feeder(s2);
  assert.equal(g.raw({ requestId: 'r7', ops: [{ op: 'create', object: pod('p7') }] }).duplicate, true);
  const again = g.raw({ requestId: 'bad', ops: [{ op: 'create', object: pod('p1') }] });
  assert.ok(!again.ok && again.duplicate && again.error.reason === 'AlreadyExists');
  // Restore replaces everything that was there.
  const h = new Feeder(new ObjectStore());
  h.create(namespace('stale'));
  h.index = 0;
  h.store.restore(snap);
  assert.equal(h.store.get({ kind: 'Namespace', name: 'stale' }), undefined);
  assert.equal(h.store.hash(), f.store.hash());
});

test('restore refuses malformed snapshots and leaves the store as it was', () => {
  const f = new Feeder(new ObjectStore());
  f.create(namespace('default'));
  f.create(pod('a'));
  const good = f.store.snapshot();
  const s = new ObjectStore();
  const target = new Feeder(s);
  target.create(namespace('mine'));
  const before = s.hash();
  const text = new TextDecoder().decode(good);
  for (const bad of [
    '',
    'garbage\n',
    text.replace('tugboat.store/1', 'tugboat.store/9'),
    text.slice(0, text.length - 5),
    text + 'extra\n',
    text.replace('"objects":2', '"objects":3'),
    text.replace(/\n\{"apiVersion":"v1","kind":"Pod"/, '\n{"apiVersion":"v1","kind":""'),
  ]) {
    assert.throws(() => s.restore(new TextEncoder().encode(bad)), Error, JSON.stringify(bad.slice(0, 60)));
    assert.equal(s.hash(), before);
    assert.equal(s.revision, 1);
  }
});

test('an empty store snapshots and restores', () => {
  const s = new ObjectStore();
  const t = new ObjectStore();
  t.restore(s.snapshot());
  assert.equal(t.revision, 0);
  assert.equal(t.size, 0);
  assert.deepEqual(t.snapshot(), s.snapshot());
});

test('a snapshot taken in steps is the state at its start, while writes go on between the steps', () => {
  const store = new ObjectStore();
  const f = new Feeder(store);
  f.txn([{ op: 'create', object: namespace('default') }]);
  for (let i = 0; i < 25; i++) f.txn([{ op: 'create', object: pod(`p${i}`, 'default') }], `r${i}`);
  const expected = store.snapshot();
  const steps = store.snapshotInSteps(4);
  let taken = 0;
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) {
    taken++;
    f.txn([{ op: 'create', object: pod(`later${taken}`, 'default') }]); // changes after the capture
  }
  assert.ok(taken >= 6, `${taken} steps`);
  assert.deepEqual(r.value, expected);
});
