// garbage.test.ts: the garbage collector's rule and the claim rule of the workload controllers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectMeta, OwnerReference } from '@tugboat/api';
import { claimOf, ownersToVerify, withOwner, withoutOwner } from '@tugboat/controllers';
import type { OwnerLookup } from '@tugboat/controllers';

const ref = (name: string, uid: string, kind = 'ReplicaSet'): OwnerReference => ({ apiVersion: 'apps/v1', kind, name, uid, controller: true });

test('garbage: every owner absent; kept when one owner is there or unknown, when there are none, or when terminating', () => {
  const present = new Set(['live-uid']);
  const lookup: OwnerLookup = (r) => (r.kind === 'Job' ? 'unknown' : present.has(r.uid) ? 'present' : 'absent');
  const meta = (refs: OwnerReference[], extra: Partial<ObjectMeta> = {}): ObjectMeta => ({ name: 'p', namespace: 'default', ownerReferences: refs, ...extra });
  assert.deepEqual(ownersToVerify(meta([ref('gone', 'gone-uid')]), lookup), [ref('gone', 'gone-uid')]);
  assert.equal(ownersToVerify(meta([ref('gone', 'gone-uid'), ref('live', 'live-uid')]), lookup), undefined);
  assert.equal(ownersToVerify(meta([ref('j', 'j-uid', 'Job')]), lookup), undefined, 'an owner of a kind it cannot look up');
  assert.equal(ownersToVerify(meta([]), lookup), undefined, 'orphaned');
  assert.equal(ownersToVerify({ name: 'p' }, lookup), undefined, 'never owned');
  assert.equal(ownersToVerify(meta([ref('gone', 'gone-uid')], { deletionTimestamp: '2025-01-01T00:00:00Z' }), lookup), undefined, 'being deleted already');
});

test('claims: by controller uid and selector; no adoption by an owner being deleted or of a terminating object', () => {
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', uid: 'u1' } };
  const sel = { matchLabels: { app: 'web' } };
  const labels = { app: 'web' };
  assert.equal(claimOf(owner, sel, { labels, ownerReferences: [ref('rs', 'u1')] }), 'own');
  assert.equal(claimOf(owner, sel, { labels: { app: 'db' }, ownerReferences: [ref('rs', 'u1')] }), 'release');
  assert.equal(claimOf(owner, sel, { labels, ownerReferences: [ref('rs', 'u2')] }), 'ignore');
  assert.equal(claimOf(owner, sel, { labels }), 'adopt');
  assert.equal(claimOf(owner, sel, { labels: { app: 'db' } }), 'ignore');
  assert.equal(claimOf({ ...owner, metadata: { ...owner.metadata, deletionTimestamp: 'x' } }, sel, { labels }), 'ignore');
  assert.equal(claimOf(owner, sel, { labels, deletionTimestamp: 'x' }), 'ignore');
  const adopted = withOwner({ name: 'p', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'n-uid' }] }, owner);
  assert.equal(adopted.ownerReferences?.length, 2);
  assert.deepEqual(withoutOwner(adopted, 'u1').ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'n-uid' }]);
  assert.equal(withoutOwner(withOwner({ name: 'p' }, owner), 'u1').ownerReferences, undefined);
});
