// replicaset-plan.test.ts: the ReplicaSet controller's decisions: claiming pods, how many to
// create or which to delete (the deletion ranking), the pod it makes, its status with
// minReadySeconds, and the slow-start batches of its creates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, ReplicaSet } from '@tugboat/api';
import { isPodAvailable, msUntilAvailable, planReplicaSet, podDeletionOrder, podFromTemplate, replicaSetStatus, sameReplicaSetStatus, slowStart, slowStartBatches } from '@tugboat/controllers';

const T0 = Date.UTC(2025, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000).toISOString().replace('.000Z', 'Z');

function replicaSet(replicas: number, minReadySeconds = 0): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 2 },
    spec: {
      replicas,
      minReadySeconds,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', tier: 'front' }, annotations: { note: 'x' } }, spec: { containers: [{ name: 'c', image: 'web:1' }] } },
    },
  };
}

interface PodOpts {
  owner?: string;
  labels?: Record<string, string>;
  node?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  readySince?: number;
  restarts?: number;
  created?: number;
  terminating?: boolean;
}

function pod(name: string, o: PodOpts = {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `${name}-uid`, labels: o.labels ?? { app: 'web', tier: 'front' }, creationTimestamp: at(o.created ?? 0) },
    spec: { containers: [{ name: 'c', image: 'web:1' }], ...(o.node === undefined ? {} : { nodeName: o.node }) },
    status: {
      phase: o.phase ?? 'Running',
      conditions: o.readySince === undefined ? [] : [{ type: 'Ready', status: 'True', lastTransitionTime: at(o.readySince) }],
      containerStatuses: [{ name: 'c', ready: o.readySince !== undefined, restartCount: o.restarts ?? 0, image: 'web:1', imageID: '' }],
    },
  };
  if (o.owner !== undefined) p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: o.owner, controller: true }];
  if (o.terminating === true) p.metadata.deletionTimestamp = at(100);
  return p;
}

const names = (pods: readonly Pod[]) => pods.map((p) => p.metadata.name);

test('claims: own, adopt matching orphans, release non-matching, leave others\' and inactive pods', () => {
  const pods = [
    pod('mine', { owner: 'rs-uid' }),
    pod('orphan'),
    pod('strayed', { owner: 'rs-uid', labels: { app: 'db' } }),
    pod('theirs', { owner: 'other-uid' }),
    pod('other-app', { labels: { app: 'db' } }),
    pod('done', { phase: 'Succeeded' }),
    pod('failed', { owner: 'rs-uid', phase: 'Failed' }),
    pod('leaving', { owner: 'rs-uid', terminating: true }),
  ];
  const plan = planReplicaSet(replicaSet(2), pods, true);
  assert.deepEqual(names(plan.adopt), ['orphan']);
  assert.deepEqual(names(plan.release), ['strayed']);
  assert.deepEqual(names(plan.owned), ['mine', 'orphan']);
  assert.equal(plan.create, 0);
  assert.deepEqual(plan.delete, []);
});

test('creates what is missing and deletes what is too many, within the burst; nothing while not managing', () => {
  assert.equal(planReplicaSet(replicaSet(5), [pod('a', { owner: 'rs-uid' })], true).create, 4);
  assert.equal(planReplicaSet(replicaSet(5), [pod('a', { owner: 'rs-uid', terminating: true })], true).create, 5, 'a terminating pod is no replica');
  assert.equal(planReplicaSet(replicaSet(900), [], true).create, 500);
  assert.equal(planReplicaSet(replicaSet(900), [], true, 10).create, 10);
  assert.equal(planReplicaSet(replicaSet(5), [], false).create, 0);
  const three = [pod('a', { owner: 'rs-uid', readySince: 0 }), pod('b', { owner: 'rs-uid' }), pod('c', { owner: 'rs-uid', readySince: 0 })];
  assert.deepEqual(names(planReplicaSet(replicaSet(2), three, true).delete), ['b']);
  assert.deepEqual(planReplicaSet(replicaSet(2), three, false).delete, []);
});

test('deletion order: unscheduled, Pending, not Ready, doubled up, Ready for less time, more restarts, newer', () => {
  const cases: [string, Pod, Pod][] = [
    // [why, deleted first, kept]
    ['unscheduled first', pod('u', { readySince: 0 }), pod('s', { node: 'n1', readySince: 0 })],
    ['Pending before Running', pod('p', { node: 'n1', phase: 'Pending' }), pod('r', { node: 'n2', phase: 'Running' })],
    ['Unknown before Running', pod('x', { node: 'n1', phase: 'Unknown' }), pod('r', { node: 'n2', phase: 'Running' })],
    ['not Ready before Ready', pod('nr', { node: 'n1' }), pod('r', { node: 'n2', readySince: 0 })],
    ['Ready for less time first', pod('late', { node: 'n1', readySince: 50 }), pod('early', { node: 'n2', readySince: 10 })],
    ['more restarts first', pod('crashy', { node: 'n1', readySince: 10, restarts: 4 }), pod('calm', { node: 'n2', readySince: 10 })],
    ['newer first', pod('new', { node: 'n1', readySince: 10, created: 5 }), pod('old', { node: 'n2', readySince: 10, created: 1 })],
  ];
  for (const [why, first, kept] of cases) {
    assert.deepEqual(names(podDeletionOrder([kept, first])), [first.metadata.name, kept.metadata.name], why);
    assert.deepEqual(names(podDeletionOrder([first, kept])), [first.metadata.name, kept.metadata.name], `${why} (either input order)`);
  }
  const spread = podDeletionOrder([pod('alone', { node: 'n1', readySince: 10 }), pod('twin1', { node: 'n2', readySince: 10, created: 1 }), pod('twin2', { node: 'n2', readySince: 10, created: 2 })]);
  assert.deepEqual(names(spread), ['twin2', 'twin1', 'alone'], 'pods doubled up on a node go first');
});

test('the pod made from the template: generated name, labels, annotations, owner', () => {
  const p = podFromTemplate(replicaSet(1));
  assert.equal(p.metadata.generateName, 'web-abc-');
  assert.equal(p.metadata.name, undefined);
  assert.deepEqual(p.metadata.labels, { app: 'web', tier: 'front' });
  assert.deepEqual(p.metadata.annotations, { note: 'x' });
  assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(p.spec, replicaSet(1).spec.template.spec);
  const long = replicaSet(1);
  long.metadata.name = 'x'.repeat(70);
  assert.equal(podFromTemplate(long).metadata.generateName?.length, 58);
});

test('status: replicas, fully labeled, Ready, available after minReadySeconds, observedGeneration', () => {
  const owned = [pod('a', { readySince: 0 }), pod('b', { readySince: 8 }), pod('c'), pod('d', { labels: { app: 'web' }, readySince: 0 })];
  const { status, recheckInMs } = replicaSetStatus(replicaSet(4, 5), owned, T0 + 10_000);
  assert.deepEqual(status, { replicas: 4, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 2, observedGeneration: 2 });
  assert.equal(recheckInMs, 3_000, 'b becomes available at 13 s');
  assert.equal(replicaSetStatus(replicaSet(4), owned, T0).status.availableReplicas, 3, 'minReadySeconds 0: Ready is available');
  assert.ok(sameReplicaSetStatus({ ...status }, status));
  assert.ok(!sameReplicaSetStatus({ ...status, readyReplicas: 1 }, status));
  assert.ok(!sameReplicaSetStatus(undefined, status));
  assert.equal(isPodAvailable(pod('t', { readySince: 0, terminating: true }), 0, T0), false, 'terminating: not available');
  assert.equal(msUntilAvailable(pod('nr'), 5, T0), undefined);
});

test('slow start: batches 1, 2, 4, ...; a failing batch ends it', async () => {
  assert.deepEqual(slowStartBatches(10), [1, 2, 4, 3]);
  assert.deepEqual(slowStartBatches(1), [1]);
  assert.deepEqual(slowStartBatches(0), []);
  assert.deepEqual(slowStartBatches(7), [1, 2, 4]);
  let calls = 0;
  const ok = await slowStart(10, async () => {
    calls++;
  });
  assert.deepEqual(ok, { succeeded: 10 });
  calls = 0;
  const failing = await slowStart(10, async () => {
    calls++;
    if (calls === 3) throw new Error('quota');
  });
  assert.equal(calls, 3, 'the batch of 2 had a failure: no batch of 4');
  assert.equal(failing.succeeded, 2);
  assert.equal((failing.error as Error).message, 'quota');
});
