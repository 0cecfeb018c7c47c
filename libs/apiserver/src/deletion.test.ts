// deletion.test.ts: how a Delete request becomes a store op: which objects are marked, with
// what grace and time, and the options' checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status, isGrpcError } from '@tugboat/proto';
import type { StoredObject } from '@tugboat/store';
import { MAX_GRACE_SECONDS, deleteOp, gracefulDeletion } from './deletion.ts';

function pod(spec: Record<string, unknown>, kind = 'Pod'): StoredObject {
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7', generation: 1, creationTimestamp: '2025-01-01T00:00:00Z' },
    spec,
  };
}

const now = Date.parse('2025-03-01T10:00:00.700Z');
const ref = { kind: 'Pod', namespace: 'default', name: 'web' };
const none = { expectedResourceVersion: '', propagationPolicy: '', expectedUid: '' };

test('a bound pod is marked with the asked grace, else its own, else 30; whole seconds', () => {
  const bound = pod({ nodeName: 'n1', terminationGracePeriodSeconds: 45 });
  assert.deepEqual(gracefulDeletion(bound, undefined, now), { deletionTimestamp: '2025-03-01T10:00:45Z', gracePeriodSeconds: 45 });
  assert.deepEqual(gracefulDeletion(bound, 5, now), { deletionTimestamp: '2025-03-01T10:00:05Z', gracePeriodSeconds: 5 });
  assert.equal(gracefulDeletion(pod({ nodeName: 'n1' }), undefined, now)?.gracePeriodSeconds, 30);
  assert.equal(gracefulDeletion(bound, 0, now), undefined, 'grace 0: at once');
  assert.equal(gracefulDeletion(pod({ nodeName: 'n1', terminationGracePeriodSeconds: 0 }), undefined, now), undefined);
  assert.equal(gracefulDeletion(pod({ terminationGracePeriodSeconds: 45 }), 10, now), undefined, 'unbound: at once');
  assert.equal(gracefulDeletion(pod({ nodeName: 'n1' }, 'ConfigMap'), 10, now), undefined, 'other kinds: at once');
  const huge = gracefulDeletion(pod({ nodeName: 'n1', terminationGracePeriodSeconds: Number.MAX_SAFE_INTEGER }), undefined, now);
  assert.equal(huge?.gracePeriodSeconds, MAX_GRACE_SECONDS, 'a huge spec grace is capped');
});

test('deleteOp carries the guards and options; bad ones are INVALID_ARGUMENT', () => {
  const bound = pod({ nodeName: 'n1' });
  assert.deepEqual(deleteOp(ref, bound, { expectedResourceVersion: '7', propagationPolicy: 'Orphan', expectedUid: 'u1', gracePeriodSeconds: 3n }, now), {
    op: 'delete',
    ref,
    expectedResourceVersion: '7',
    expectedUid: 'u1',
    graceful: { deletionTimestamp: '2025-03-01T10:00:03Z', gracePeriodSeconds: 3 },
    orphanDependents: true,
  });
  assert.deepEqual(deleteOp(ref, undefined, { ...none, propagationPolicy: 'Background' }, now), { op: 'delete', ref });
  const refused = (opts: Partial<Parameters<typeof deleteOp>[2]>, message: RegExp) =>
    assert.throws(
      () => deleteOp(ref, bound, { ...none, ...opts }, now),
      (e) => isGrpcError(e) && e.code === Status.INVALID_ARGUMENT && message.test(e.message),
    );
  refused({ gracePeriodSeconds: -1n }, /grace_period_seconds: must not be negative/);
  refused({ gracePeriodSeconds: BigInt(MAX_GRACE_SECONDS) + 1n }, /grace_period_seconds: at most/);
  refused({ propagationPolicy: 'Foreground' }, /propagation_policy: must be "Background" or "Orphan"/);
});
