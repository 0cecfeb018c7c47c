// deletion.test.ts: the delete op's options: graceful marking, expectedUid, orphanDependents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectStore, encodeCommand, isStoreError } from '@tugboat/store';
import type { Command, DeleteOp, KubeObject, ObjectRef, StoreError } from '@tugboat/store';
import { Feeder, filled, namespace, node, pod } from './testutil.ts';

function setup(): Feeder {
  const f = new Feeder(new ObjectStore());
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

const webRef = { kind: 'Pod', namespace: 'default', name: 'web' };

function del(f: Feeder, more: Partial<DeleteOp> = {}, ref: ObjectRef = webRef) {
  return f.txn([{ op: 'delete', ref, ...more }]).objects[0]!;
}

test('a graceful delete marks the object (MODIFIED) and keeps it; a shorter grace moves the time earlier, a longer one changes nothing', async () => {
  const f = setup();
  const v1 = f.create(pod('web'));
  const w = f.store.watch({ fromRevision: f.store.revision, kind: 'Pod' });
  const marked = del(f, { graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 30 } });
  assert.equal(marked.metadata.deletionTimestamp, '2025-03-01T10:00:30Z');
  assert.equal(marked.metadata.deletionGracePeriodSeconds, 30);
  assert.equal(marked.metadata.generation, v1.metadata.generation);
  assert.deepEqual(marked.spec, v1.spec);
  assert.equal(f.store.get(webRef), marked);
  const ev = (await w.next()).value!;
  assert.equal(ev.type, 'MODIFIED');
  assert.equal(ev.prevObject, v1);

  // Larger or equal grace: nothing is written.
  const rev = f.store.revision;
  assert.equal(del(f, { graceful: { deletionTimestamp: '2025-03-01T10:00:50Z', gracePeriodSeconds: 30 } }), marked);
  assert.equal(del(f, { graceful: { deletionTimestamp: '2025-03-01T10:01:50Z', gracePeriodSeconds: 90 } }), marked);
  assert.equal(f.store.get(webRef)?.metadata.resourceVersion, String(rev));

  // Shorter: the deletion time moves earlier by the difference (counted from when it started).
  const shorter = del(f, { graceful: { deletionTimestamp: '2025-03-01T10:00:45Z', gracePeriodSeconds: 10 } });
  assert.equal(shorter.metadata.deletionTimestamp, '2025-03-01T10:00:10Z');
  assert.equal(shorter.metadata.deletionGracePeriodSeconds, 10);
  assert.equal(shorter.metadata.resourceVersion, String(f.store.revision));

  // A plain delete removes it.
  const gone = del(f);
  assert.equal(gone.metadata.deletionTimestamp, '2025-03-01T10:00:10Z');
  assert.equal(f.store.get(webRef), undefined);
  w.cancel();
});

test('a status update of a marked object keeps its deletion fields', () => {
  const f = setup();
  f.create(pod('web'));
  const marked = del(f, { graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 30 } });
  const v = f.txn([{ op: 'update', subresource: 'status', object: { ...marked, status: { phase: 'Succeeded' } } }]).objects[0]!;
  assert.equal(v.metadata.deletionTimestamp, '2025-03-01T10:00:30Z');
  assert.equal(v.metadata.deletionGracePeriodSeconds, 30);
  assert.deepEqual(v.status, { phase: 'Succeeded' });
});

test('expectedUid: a delete of an object with another uid is a Conflict naming both uids', () => {
  const f = setup();
  const v1 = f.create(pod('web'));
  const e = storeError(() => del(f, { expectedUid: 'not-the-uid' }));
  assert.ok(isStoreError(e, 'Conflict'));
  assert.equal(e.details.field, 'uid');
  assert.equal(e.details.expected, 'not-the-uid');
  assert.equal(e.details.actual, v1.metadata.uid);
  assert.match(e.message, /uid not-the-uid does not match/);
  assert.ok(f.store.get(webRef));
  del(f, { expectedUid: v1.metadata.uid });
  assert.equal(f.store.get(webRef), undefined);
});

function owned(o: KubeObject, ...owners: { uid: string; name: string }[]): KubeObject {
  const ownerReferences = owners.map((w) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: w.name, uid: w.uid, controller: true }));
  return { ...o, metadata: { ...o.metadata, ownerReferences } };
}

test('orphanDependents drops the owner from the ownerReferences of its dependents in the same entry, before the owner goes', async () => {
  const f = setup();
  const rs = f.create(filled({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', namespace: 'default' }, spec: { replicas: 2 } }));
  const other = { uid: 'uid-other-owner', name: 'rs-other' };
  const self = { uid: rs.metadata.uid, name: 'rs' };
  const b = f.create(owned(pod('b'), self));
  const a = f.create(owned(pod('a'), self, other));
  const c = f.create(owned(pod('c'), other));
  const elsewhere = f.create(owned(pod('x', 'other'), self));
  const w = f.store.watch({ fromRevision: f.store.revision });
  del(f, { orphanDependents: true }, { kind: 'ReplicaSet', namespace: 'default', name: 'rs' });
  const rev = f.store.revision;
  const events = [];
  for (let i = 0; i < 3; i++) events.push((await w.next()).value!);
  w.cancel();
  assert.deepEqual(
    events.map((e) => [e.type, e.object.kind, e.object.metadata.name, e.revision]),
    [
      ['MODIFIED', 'Pod', 'a', rev],
      ['MODIFIED', 'Pod', 'b', rev],
      ['DELETED', 'ReplicaSet', 'rs', rev],
    ],
  );
  const get = (name: string, ns = 'default') => f.store.get({ kind: 'Pod', namespace: ns, name })!;
  assert.deepEqual(get('a').metadata.ownerReferences?.map((r) => (r as { uid: string }).uid), [other.uid]);
  assert.equal(get('b').metadata.ownerReferences, undefined, 'an emptied list is removed');
  assert.equal(get('b').metadata.generation, b.metadata.generation);
  assert.notEqual(get('a'), a);
  assert.equal(get('c'), c, 'not a dependent: untouched');
  assert.equal(get('x', 'other'), elsewhere, 'another namespace: untouched');
});

test('orphanDependents of a graceful delete happens when the owner is marked; a failed transaction orphans nothing', () => {
  const f = setup();
  const owner = f.create(node('n1'));
  const dep = f.create(owned(pod('p'), { uid: owner.metadata.uid, name: 'n1' }));
  const r = f.raw({
    ops: [
      { op: 'delete', ref: { kind: 'Node', name: 'n1' }, orphanDependents: true },
      { op: 'check', ref: { kind: 'Pod', namespace: 'default', name: 'ghost' }, precondition: 'exists' },
    ],
  });
  assert.equal(r.ok, false);
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'p' }), dep);
  // A cluster-scoped owner: dependents anywhere.
  del(f, { orphanDependents: true, graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 30 } }, { kind: 'Node', name: 'n1' });
  assert.equal(f.store.get({ kind: 'Pod', namespace: 'default', name: 'p' })?.metadata.ownerReferences, undefined);
  assert.ok(f.store.get({ kind: 'Node', name: 'n1' })?.metadata.deletionTimestamp);
});

test('the codec checks the delete options', () => {
  const ref = webRef;
  const ok: Command = {
    ops: [{ op: 'delete', ref, expectedUid: 'u', orphanDependents: true, graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 3 } }],
  };
  encodeCommand(ok);
  const invalid = (op: unknown) => storeError(() => encodeCommand({ ops: [op] } as Command)).message;
  assert.match(invalid({ op: 'delete', ref, expectedUid: '' }), /expectedUid: must be a non-empty string/);
  assert.match(invalid({ op: 'delete', ref, orphanDependents: 'yes' }), /orphanDependents: must be a boolean/);
  assert.match(invalid({ op: 'delete', ref, graceful: { deletionTimestamp: 'soon', gracePeriodSeconds: 3 } }), /deletionTimestamp: must be an RFC 3339 time/);
  assert.match(invalid({ op: 'delete', ref, graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 0 } }), /gracePeriodSeconds: must be a positive integer/);
  assert.match(invalid({ op: 'delete', ref, graceful: { deletionTimestamp: '2025-03-01T10:00:30Z', gracePeriodSeconds: 1, extra: 1 } }), /graceful\.extra: unknown field/);
});
