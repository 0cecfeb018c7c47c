import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectStore, encodeCommand, isStoreError, unwrapApplyResult } from '@tugboat/store';
import type { ApplyResult, Command, StoreError } from '@tugboat/store';
import { Feeder, filled, namespace, node, pod } from './testutil.ts';

/** setup: a store with namespaces "default" and "other" (indexes 1, 2). */
function setup(opts: ConstructorParameters<typeof ObjectStore>[0] = {}): Feeder {
  const f = new Feeder(new ObjectStore(opts));
  f.create(namespace('default'));
  f.create(namespace('other'));
  return f;
}

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (e) {
    assert.ok(isStoreError(e), `expected a StoreError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a StoreError, nothing was thrown');
}

function failed(r: ApplyResult): StoreError {
  assert.equal(r.ok, false, 'expected the command to fail');
  return (r as { error: StoreError }).error;
}

test('create assigns resourceVersion (the entry index) and generation 1, keeps uid and creationTimestamp, freezes', () => {
  const f = setup();
  const p = pod('web-1');
  const o = f.create(p);
  assert.equal(o.metadata.resourceVersion, '3');
  assert.equal(o.metadata.generation, 1);
  assert.equal(o.metadata.uid, p.metadata.uid);
  assert.equal(o.metadata.creationTimestamp, '2025-01-01T00:00:00Z');
  assert.equal(f.store.revision, 3);
  assert.ok(Object.isFrozen(o) && Object.isFrozen(o.metadata) && Object.isFrozen(o.spec));
  assert.deepEqual(f.store.get({ kind: 'Pod', namespace: 'default', name: 'web-1' }), o);
  // Caller-set resourceVersion / generation / deletionTimestamp on create are replaced or dropped.
  const q = f.create({ ...pod('web-2'), metadata: { ...pod('web-2').metadata, resourceVersion: '99', generation: 7, deletionTimestamp: 'x' } });
  assert.equal(q.metadata.resourceVersion, '4');
  assert.equal(q.metadata.generation, 1);
  assert.equal(q.metadata.deletionTimestamp, undefined);
});

test('create of an existing object fails AlreadyExists and writes nothing, but the revision advances', () => {
  const f = setup();
  const first = f.create(pod('web-1'));
  const e = storeError(() => f.create(pod('web-1', 'default', { image: 'other' })));
  assert.ok(isStoreError(e, 'AlreadyExists'));
  assert.equal(e.name, 'AlreadyExistsError');
  assert.match(e.message, /Pod default\/web-1/);
  assert.equal(f.store.revision, 4);
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'web-1' }), first);
  // Same name in another namespace, or another kind, is a different object.
  f.create(pod('web-1', 'other'));
  f.create(filled({ kind: 'ConfigMap', metadata: { name: 'web-1', namespace: 'default' }, data: { a: '1' } }));
  assert.equal(f.store.size, 5);
});

test('namespace rules: namespaced objects need an existing namespace; cluster-scoped ones take none', () => {
  const f = setup();
  assert.ok(isStoreError(storeError(() => f.create(pod('p', 'missing'))), 'NotFound'));
  assert.ok(isStoreError(storeError(() => f.create(filled({ kind: 'Pod', metadata: { name: 'p' } }))), 'Invalid'));
  assert.ok(isStoreError(storeError(() => f.create(filled({ kind: 'Node', metadata: { name: 'n1', namespace: 'default' } }))), 'Invalid'));
  const n = f.create(filled({ kind: 'Node', metadata: { name: 'n1', namespace: '' } }));
  assert.equal('namespace' in n.metadata, false, 'an empty namespace is dropped on cluster-scoped objects');
  assert.equal(f.store.get({ kind: 'Node', name: 'n1' }), n);
  assert.equal(f.store.get({ kind: 'Node', namespace: '', name: 'n1' }), n);
  // Without requireNamespace, namespaces need not exist.
  const g = new Feeder(new ObjectStore({ requireNamespace: false }));
  g.create(pod('p', 'nowhere'));
  // The proposer must fill uid and creationTimestamp.
  const e = storeError(() => f.create({ kind: 'Pod', metadata: { name: 'x', namespace: 'default' } }));
  assert.ok(isStoreError(e, 'Invalid'));
  assert.match(e.message, /metadata\.uid/);
});

test('update with a matching resourceVersion succeeds (compare-and-swap); a stale one fails Conflict naming both versions', () => {
  const f = setup();
  const v1 = f.create(pod('web-1'));
  const v2 = f.update({ ...v1, spec: { containers: [{ name: 'web', image: 'web:2' }] } }, v1.metadata.resourceVersion);
  assert.equal(v2.metadata.resourceVersion, '4');
  const e = storeError(() => f.update({ ...v1, spec: { containers: [{ name: 'web', image: 'web:3' }] } }, v1.metadata.resourceVersion));
  assert.ok(isStoreError(e, 'Conflict'));
  assert.equal(e.name, 'ConflictError');
  assert.match(e.message, /Pod default\/web-1/);
  assert.match(e.message, /expected resourceVersion 3, but it is 4/);
  assert.equal(e.details.expected, '3');
  assert.equal(e.details.actual, '4');
  assert.deepEqual(e.details.ref, { kind: 'Pod', namespace: 'default', name: 'web-1' });
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'web-1' }), v2);
  // Unconditional update wins regardless of version.
  const v3 = f.update({ ...v1, spec: { containers: [{ name: 'web', image: 'web:3' }] } });
  assert.equal(v3.metadata.resourceVersion, '6');
  // Missing object: NotFound, conditional or not.
  assert.ok(isStoreError(storeError(() => f.update(pod('ghost'))), 'NotFound'));
  assert.ok(isStoreError(storeError(() => f.update(pod('ghost'), '1')), 'NotFound'));
});

test('update keeps server fields: uid, creationTimestamp, deletion fields; a different uid is a Conflict', () => {
  const f = setup();
  const v1 = f.create(pod('web-1'));
  const v2 = f.update({ ...v1, metadata: { ...v1.metadata, uid: '', creationTimestamp: '1999-01-01T00:00:00Z', labels: { app: 'x' } } });
  assert.equal(v2.metadata.uid, v1.metadata.uid);
  assert.equal(v2.metadata.creationTimestamp, v1.metadata.creationTimestamp);
  assert.deepEqual(v2.metadata.labels, { app: 'x' });
  const e = storeError(() => f.update({ ...v1, metadata: { ...v1.metadata, uid: 'someone-else' } }));
  assert.ok(isStoreError(e, 'Conflict'));
  assert.match(e.message, /uid/);
  // Only a graceful delete sets the deletion fields; an update neither sets nor drops them.
  const same = f.update({ ...v2, metadata: { ...v2.metadata, deletionTimestamp: '2025-02-02T00:00:00Z', deletionGracePeriodSeconds: 5 } });
  assert.equal(same, v2, 'nothing to write');
  const graceful = { deletionTimestamp: '2025-02-02T00:00:00Z', gracePeriodSeconds: 30 };
  const v3 = f.txn([{ op: 'delete', ref: { kind: 'Pod', namespace: 'default', name: 'web-1' }, graceful }]).objects[0]!;
  const { deletionTimestamp: _dropped, deletionGracePeriodSeconds: _grace, ...rest } = v3.metadata;
  const v4 = f.update({ ...v3, metadata: { ...rest, labels: { app: 'y' } } });
  assert.equal(v4.metadata.deletionTimestamp, '2025-02-02T00:00:00Z');
  assert.equal(v4.metadata.deletionGracePeriodSeconds, 30);
});

test('generation: 1 on create, +1 on spec change, unchanged on status, metadata or key-order-only changes', () => {
  const f = setup();
  const v1 = f.create(pod('web-1'));
  const v2 = f.update({ ...v1, status: { phase: 'Running' } });
  assert.equal(v2.metadata.generation, 1, 'status change');
  assert.equal(v2.metadata.resourceVersion, '4');
  const v3 = f.update({ ...v2, metadata: { ...v2.metadata, labels: { app: 'web', tier: 'fe' } } });
  assert.equal(v3.metadata.generation, 1, 'label change');
  const v4 = f.update({ ...v3, spec: { containers: [{ name: 'web', image: 'web:2', ports: [{ containerPort: 8080 }] }] } });
  assert.equal(v4.metadata.generation, 2, 'spec change');
  // Same spec with keys in another order: not a change.
  const v5 = f.update({ ...v4, spec: { containers: [{ ports: [{ containerPort: 8080 }], image: 'web:2', name: 'web' }] }, status: { phase: 'Failed' } });
  assert.equal(v5.metadata.generation, 2, 'key order only');
  const { spec: _spec, ...noSpec } = v5;
  const v6 = f.update(noSpec);
  assert.equal(v6.metadata.generation, 3, 'spec removed');
});

test('an update that changes nothing writes nothing: same object, same resourceVersion, no event', async () => {
  const f = setup();
  const v1 = f.create(pod('web-1'));
  const before = f.store.history.next;
  const same = f.update({ ...v1, spec: JSON.parse(JSON.stringify(v1.spec)) as unknown }, v1.metadata.resourceVersion);
  assert.equal(same, v1);
  assert.equal(f.store.history.next, before);
  assert.equal(f.store.revision, 4);
});

test('status subresource: only status is taken from the caller', () => {
  const f = setup();
  const v1 = f.create(pod('web-1'));
  const r = f.txn([
    {
      op: 'update',
      subresource: 'status',
      expectedResourceVersion: v1.metadata.resourceVersion,
      object: { ...v1, metadata: { ...v1.metadata, labels: { hacked: 'yes' } }, spec: { containers: [] }, status: { phase: 'Running', podIP: '10.244.1.5' } },
    },
  ]);
  const v2 = r.objects[0]!;
  assert.deepEqual(v2.status, { phase: 'Running', podIP: '10.244.1.5' });
  assert.deepEqual(v2.spec, v1.spec);
  assert.deepEqual(v2.metadata.labels, v1.metadata.labels);
  assert.equal(v2.metadata.generation, 1);
  assert.equal(v2.metadata.resourceVersion, '4');
  assert.equal(v2.spec, v1.spec, 'the unchanged spec is shared, not copied');
});

test('delete: NotFound when missing, Conflict on a stale version, else the last state at the deleting revision', () => {
  const f = setup();
  assert.ok(isStoreError(storeError(() => f.delete('Pod', 'default', 'ghost')), 'NotFound'));
  const v1 = f.create(pod('web-1'));
  f.update({ ...v1, status: { phase: 'Running' } });
  const e = storeError(() => f.delete('Pod', 'default', 'web-1', v1.metadata.resourceVersion));
  assert.ok(isStoreError(e, 'Conflict'));
  const gone = f.delete('Pod', 'default', 'web-1', '5');
  assert.equal(gone.metadata.resourceVersion, String(f.store.revision));
  assert.deepEqual(gone.status, { phase: 'Running' });
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'web-1' }), undefined);
  assert.equal(f.store.size, 2);
  // Unconditional delete.
  f.create(pod('web-2'));
  f.delete('Pod', 'default', 'web-2');
  assert.deepEqual(f.store.counts(), { Namespace: 2 });
});

test('transactions apply all ops or none: a failing second op leaves the first unapplied', () => {
  const f = setup();
  f.create(pod('taken'));
  const rev = f.store.revision;
  const hash = f.store.hash();
  const r = f.raw({
    ops: [
      { op: 'create', object: pod('new-one') },
      { op: 'create', object: pod('taken') },
    ],
  });
  const e = failed(r);
  assert.ok(isStoreError(e, 'AlreadyExists'));
  assert.equal(e.details.opIndex, 1);
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'new-one' }), undefined);
  assert.equal(f.store.hash(), hash);
  assert.equal(f.store.revision, rev + 1);

  // Success: every object written gets the same resourceVersion; later ops see earlier ones.
  const pa = pod('a', 'team');
  const ok = f.txn([
    { op: 'create', object: namespace('team') },
    { op: 'create', object: pa },
    { op: 'update', object: { ...pa, status: { phase: 'Running' } } },
    { op: 'check', ref: { kind: 'Pod', namespace: 'default', name: 'taken' }, precondition: 'exists' },
  ]);
  assert.deepEqual(
    ok.objects.map((o) => o?.metadata.resourceVersion),
    [String(f.store.revision), String(f.store.revision), String(f.store.revision), '3'],
  );
  assert.deepEqual(f.store.get({ kind: 'Pod', namespace: 'team', name: 'a' })?.status, { phase: 'Running' });
});

test('check ops guard a transaction on other objects', () => {
  const f = setup();
  const cm = f.create(filled({ kind: 'ConfigMap', metadata: { name: 'lock', namespace: 'default' } }));
  const guard = (c: object) => f.raw({ ops: [c as never, { op: 'create', object: pod('guarded') }] });
  assert.ok(isStoreError(failed(guard({ op: 'check', ref: { kind: 'ConfigMap', namespace: 'default', name: 'lock' }, precondition: 'notExists' })), 'AlreadyExists'));
  assert.ok(isStoreError(failed(guard({ op: 'check', ref: { kind: 'ConfigMap', namespace: 'default', name: 'nope' }, precondition: 'exists' })), 'NotFound'));
  assert.ok(isStoreError(failed(guard({ op: 'check', ref: { kind: 'ConfigMap', namespace: 'default', name: 'lock' }, expectedResourceVersion: '1' })), 'Conflict'));
  const r = guard({ op: 'check', ref: { kind: 'ConfigMap', namespace: 'default', name: 'lock' }, expectedResourceVersion: cm.metadata.resourceVersion });
  assert.equal(r.ok, true);
  assert.ok(f.store.get({ kind: 'Pod', namespace: 'default', name: 'guarded' }));
});

test('deleting a Namespace deletes everything in it in the same entry, and nothing else', async () => {
  const f = setup();
  f.create(namespace('doomed'));
  for (const n of ['b', 'a', 'c']) f.create(pod(n, 'doomed'));
  f.create(filled({ kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'doomed' } }));
  f.create(pod('a', 'other'));
  f.create(node('n1'));
  const from = f.store.revision;
  const w = f.store.watch({ fromRevision: from });
  const gone = f.delete('Namespace', '', 'doomed');
  const rev = f.store.revision;
  assert.equal(gone.kind, 'Namespace');
  assert.deepEqual(f.store.counts(), { Namespace: 2, Node: 1, Pod: 1 });
  assert.equal(f.store.list({ kind: 'Pod', namespace: 'doomed' }).items.length, 0);
  const events = [];
  for (let i = 0; i < 5; i++) events.push((await w.next()).value!);
  w.cancel();
  assert.deepEqual(
    events.map((e) => [e.type, e.object.kind, e.object.metadata.name, e.revision]),
    [
      ['DELETED', 'ConfigMap', 'cfg', rev],
      ['DELETED', 'Pod', 'a', rev],
      ['DELETED', 'Pod', 'b', rev],
      ['DELETED', 'Pod', 'c', rev],
      ['DELETED', 'Namespace', 'doomed', rev],
    ],
  );
  assert.ok(events.every((e) => e.object.metadata.resourceVersion === String(rev)));

  // Inside one transaction: objects created earlier in it go too; a namespace made again is empty.
  const r = f.txn([
    { op: 'create', object: namespace('tmp') },
    { op: 'create', object: pod('x', 'tmp') },
    { op: 'delete', ref: { kind: 'Namespace', name: 'tmp' } },
    { op: 'create', object: namespace('tmp') },
    { op: 'create', object: pod('y', 'tmp') },
  ]);
  assert.equal(r.objects.length, 5);
  assert.deepEqual(
    f.store.list({ kind: 'Pod', namespace: 'tmp' }).items.map((o) => o.metadata.name),
    ['y'],
  );
  // A pod cannot be created in a namespace deleted earlier in the same transaction.
  const e = failed(f.raw({ ops: [{ op: 'delete', ref: { kind: 'Namespace', name: 'tmp' } }, { op: 'create', object: pod('z', 'tmp') }] }));
  assert.ok(isStoreError(e, 'NotFound'));
  assert.ok(f.store.get({ kind: 'Pod', namespace: 'tmp', name: 'y' }), 'the failed transaction deleted nothing');
});

test('a repeated requestId answers the first outcome without applying again', () => {
  const f = setup();
  const cmd: Command = { requestId: 'req-1', ops: [{ op: 'create', object: pod('web-1') }] };
  const first = f.raw(cmd);
  assert.ok(first.ok);
  assert.equal(first.duplicate, false);
  const again = f.raw(cmd);
  assert.ok(again.ok);
  assert.equal(again.duplicate, true);
  assert.equal(again.revision, first.revision);
  assert.equal(again.objects[0], first.objects[0], 'the object as written, unchanged since');
  assert.equal(f.store.revision, first.revision + 1, 'the duplicate entry still advances the revision');
  // Once the object changed, a duplicate answers null for it.
  f.update({ ...first.objects[0]!, status: { phase: 'Running' } });
  const third = f.raw(cmd);
  assert.ok(third.ok && third.duplicate);
  assert.equal(third.objects[0], null);
  // A failed command's id answers the same error, even though it would succeed now.
  const bad: Command = { requestId: 'req-2', ops: [{ op: 'create', object: pod('p', 'later') }] };
  const e1 = failed(f.raw(bad));
  f.create(namespace('later'));
  const r2 = f.raw(bad);
  assert.equal(r2.duplicate, true);
  const e2 = failed(r2);
  assert.equal(e2.name, e1.name);
  assert.equal(e2.message, e1.message);
  assert.deepEqual(e2.details, e1.details);
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'later', name: 'p' }), undefined);
});

test('the requestId window keeps the last N ids and forgets the oldest first', () => {
  const f = setup({ requestIdWindow: 3 });
  for (let i = 1; i <= 4; i++) f.raw({ requestId: `r${i}`, ops: [{ op: 'create', object: pod(`p${i}`) }] });
  assert.equal(f.store.stats().requestIds, 3);
  // r1 is forgotten: applying it again really runs (and now fails AlreadyExists); r4 is remembered.
  assert.equal(failed(f.raw({ requestId: 'r1', ops: [{ op: 'create', object: pod('p1') }] })).reason, 'AlreadyExists');
  assert.equal(f.raw({ requestId: 'r4', ops: [{ op: 'create', object: pod('p4') }] }).duplicate, true);
  // r2 was evicted by r1's new record.
  assert.equal(failed(f.raw({ requestId: 'r2', ops: [{ op: 'create', object: pod('p2') }] })).reason, 'AlreadyExists');
});

test('list: ordered by namespace then name, with namespace and label filters, as of a revision', () => {
  const f = setup();
  for (const [ns, n, app] of [
    ['other', 'b', 'db'],
    ['default', 'c', 'web'],
    ['default', 'a', 'db'],
    ['other', 'a', 'web'],
  ] as const) {
    f.create(pod(n, ns, { labels: { app } }));
  }
  f.create(filled({ kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } }));
  const all = f.store.list({ kind: 'Pod' });
  assert.deepEqual(all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ['default/a', 'default/c', 'other/a', 'other/b']);
  assert.equal(all.revision, f.store.revision);
  assert.deepEqual(f.store.list({ kind: 'Pod', namespace: 'other' }).items.map((o) => o.metadata.name), ['a', 'b']);
  assert.deepEqual(
    f.store.list({ kind: 'Pod', labelFilter: (l) => l['app'] === 'db' }).items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['default/a', 'other/b'],
  );
  assert.deepEqual(f.store.list({ kind: 'Service' }).items, []);
  assert.deepEqual(f.store.list({ kind: 'Namespace' }).items.map((o) => o.metadata.name), ['default', 'other']);
  assert.deepEqual(f.store.counts(), { ConfigMap: 1, Namespace: 2, Pod: 4 });
});

test('entries without a store command advance the revision; noteIndex does too; entries must come in order', () => {
  const f = setup();
  f.noop();
  assert.equal(f.store.revision, 3);
  f.store.noteIndex(10);
  assert.equal(f.store.revision, 10);
  f.store.noteIndex(5);
  assert.equal(f.store.revision, 10);
  assert.throws(() => f.store.apply({ index: 10, term: 1, data: encodeCommand({ ops: [{ op: 'create', object: pod('x') }] }) }), /applied after revision 10/);
  f.index = 10;
  assert.equal(f.create(pod('x')).metadata.resourceVersion, '11');
});

test('malformed entries answer InvalidError (naming the field) and change nothing but the revision', () => {
  const f = setup();
  const hash = f.store.hash();
  const apply = (s: string) => f.store.apply({ index: ++f.index, term: 1, data: new TextEncoder().encode(s) });
  assert.ok(isStoreError(failed(apply('not json')), 'Invalid'));
  assert.match(failed(apply('{"ops":[]}')).message, /ops: must be a non-empty array/);
  assert.match(failed(apply('{"ops":[{"op":"create","object":{"kind":"Pod","metadata":{}}}]}')).message, /ops\[0\]\.object\.metadata\.name/);
  assert.match(failed(apply('{"ops":[{"op":"upsert"}]}')).message, /ops\[0\]\.op: must be one of/);
  assert.match(failed(apply('{"ops":[{"op":"delete","ref":{"kind":"Pod","name":"a","namespace":"default"},"expectedResourceVersion":"abc"}]}')).message, /expectedResourceVersion/);
  assert.match(failed(apply('{"ops":[{"op":"delete","ref":{"kind":"Pod","name":"a","namespace":"default"}}],"extra":1}')).message, /command\.extra: unknown field/);
  assert.match(failed(apply(JSON.stringify({ ops: [{ op: 'create', object: { kind: 'Pod', metadata: { name: 'a/b', namespace: 'default' } } }] }))).message, /must not contain '\/'/);
  assert.equal(f.store.hash(), hash);
  assert.equal(f.store.revision, f.index);
});

test('the codec round-trips commands and refuses bad ones before proposing', async () => {
  const { decodeCommand, maxTxnOps } = await import('@tugboat/store');
  const cmd: Command = {
    requestId: 'abc',
    ops: [
      { op: 'create', object: pod('a') },
      { op: 'update', object: pod('b'), expectedResourceVersion: '12', subresource: 'status' },
      { op: 'delete', ref: { kind: 'Pod', namespace: 'default', name: 'c' }, expectedResourceVersion: '3' },
      { op: 'check', ref: { kind: 'Namespace', name: 'default' }, precondition: 'exists' },
    ],
  };
  assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  const invalid = (c: unknown) => storeError(() => encodeCommand(c as Command));
  assert.match(invalid({ ops: new Array(maxTxnOps + 1).fill({ op: 'check', ref: { kind: 'A', name: 'a' }, precondition: 'exists' }) }).message, /limit of 128/);
  assert.match(invalid({ requestId: '', ops: [{ op: 'create', object: pod('a') }] }).message, /requestId/);
  assert.match(invalid({ ops: [{ op: 'create', object: pod('a'), precondition: 'exists' }] }).message, /create implies "notExists"/);
  assert.match(invalid({ ops: [{ op: 'check', ref: { kind: 'Pod', name: 'a' } }] }).message, /needs a precondition/);
  assert.match(invalid({ ops: [{ op: 'create', object: { ...pod('a'), metadata: { ...pod('a').metadata, labels: { a: 1 } } } }] }).message, /labels\.a: must be a string/);
  assert.match(invalid({ ops: [{ op: 'create', object: pod('a', 'default', { padBytes: 2_000_000 }) }] }).message, /more than the limit/);
});

test('unwrapApplyResult throws the StoreError of a failed command', () => {
  const f = setup();
  const r = f.raw({ ops: [{ op: 'delete', ref: { kind: 'Pod', namespace: 'default', name: 'nope' } }] });
  assert.throws(() => unwrapApplyResult(r), (e) => isStoreError(e, 'NotFound'));
  assert.throws(() => unwrapApplyResult(undefined), /not an apply result/);
});
