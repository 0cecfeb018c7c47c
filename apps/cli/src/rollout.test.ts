// rollout.test.ts: the decisions of rollout.ts without a server: rollout states, revisions
// and undo targets, templates without the hash label, image settings, command lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from '@tugboat/api';
import { commandLine, parseImageSettings, revisionsOf, rollbackTarget, rolloutState, templateOf } from './rollout.ts';

function deployment(status: Deployment['status'], extra: Partial<Deployment['spec']> = {}, revision = '3'): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', uid: 'd-uid', generation: 2, annotations: { 'deployment.kubernetes.io/revision': revision } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'web', image: 'web:3' }] } }, ...extra },
    ...(status === undefined ? {} : { status }),
  };
}

function rs(name: string, revision: string, owner: { uid: string; controller?: boolean }): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      annotations: { 'deployment.kubernetes.io/revision': revision },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', ...owner }],
    },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', 'pod-template-hash': name } }, spec: { containers: [{ name: 'web', image: `web:${revision}` }] } },
    },
  };
}

describe('rolloutState', () => {
  test('waits for the controller to see the latest spec', () => {
    assert.equal(rolloutState(deployment({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 })).done, false);
    assert.equal(rolloutState(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 })).done, true);
  });

  test('a paused rollout says so, and how to resume it', () => {
    const st = rolloutState(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 1 }, { paused: true }));
    assert.deepEqual(st, {
      done: false,
      failed: false,
      message: 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated... (the deployment is paused: tug rollout resume deployment/web)',
    });
  });

  test('replicas default to 1; a progress deadline passed is a failure', () => {
    const one = deployment({ observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
    delete one.spec.replicas;
    assert.equal(rolloutState(one).done, true);
    const st = rolloutState(deployment({ observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }));
    assert.deepEqual(st, { done: false, failed: true, message: 'deployment "web" exceeded its progress deadline' });
  });
});

describe('revisions and undo', () => {
  const sets = [
    rs('c', '3', { uid: 'd-uid', controller: true }),
    rs('a', '1', { uid: 'd-uid', controller: true }),
    rs('x', '2', { uid: 'd-uid' }),
    rs('b', '2', { uid: 'd-uid', controller: true }),
    rs('z', '9', { uid: 'other', controller: true }),
    rs('n', 'none', { uid: 'd-uid', controller: true }),
  ];

  test('revisionsOf keeps the replica sets the deployment controls, oldest first', () => {
    assert.deepEqual(
      revisionsOf(deployment(undefined), sets).map((r) => [r.revision, r.replicaSet.metadata.name]),
      [
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
      ],
    );
  });

  test('rollbackTarget: the one before the current revision, or the one asked for', () => {
    const d = deployment(undefined);
    const revisions = revisionsOf(d, sets);
    assert.equal(rollbackTarget(d, revisions, undefined).revision, 2);
    assert.equal(rollbackTarget(d, revisions, 0).revision, 2);
    assert.equal(rollbackTarget(d, revisions, 1).revision, 1);
    assert.throws(() => rollbackTarget(d, revisions, 4), /deployment web has no revision 4 \(its revisions: 1, 2, 3\)/);
    assert.throws(() => rollbackTarget(deployment(undefined, {}, '1'), revisions.slice(0, 1), undefined), /deployment web has no previous revision to roll back to/);
  });

  test('templateOf drops the pod-template-hash label and leaves the replica set alone', () => {
    const set = rs('a', '1', { uid: 'd-uid', controller: true });
    assert.deepEqual(templateOf(set).metadata?.labels, { app: 'web' });
    assert.equal(set.spec.template.metadata?.labels?.['pod-template-hash'], 'a');
  });
});

test('parseImageSettings and commandLine', () => {
  assert.deepEqual([...parseImageSettings(['web=reg.local:5000/web:v2@sha256:abc', 'side=b'], 'set image')], [
    ['web', 'reg.local:5000/web:v2@sha256:abc'],
    ['side', 'b'],
  ]);
  assert.throws(() => parseImageSettings([], 'set image'), /at least one CONTAINER=IMAGE/);
  assert.equal(commandLine(['set', 'image', 'deploy/web', "it's=a b"]), "tug set image deploy/web 'it'\\''s=a b'");
});
