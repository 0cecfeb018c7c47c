// deployment-plan.test.ts: the Deployment controller's decisions: rolling update arithmetic
// (fenceposts, new ReplicaSet growth, old ReplicaSet shrinking, whole rollouts simulated across
// many maxSurge/maxUnavailable combinations), Recreate steps, proportional scaling, revisions,
// hashes, history pruning, status and conditions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, IntOrString, ReplicaSet } from '@tugboat/api';
import {
  deploymentStatus,
  fenceposts,
  findNewReplicaSet,
  maxUnavailable,
  newReplicaSetAnnotations,
  newReplicaSetFor,
  newReplicaSetTarget,
  nextRevision,
  oldReplicaSetScaleDowns,
  recreateStep,
  replicaSetsToPrune,
  resolveIntOrPercent,
  scalingActions,
  isScalingEvent,
  templateHash,
} from '@tugboat/controllers';

interface DepOpts {
  surge?: IntOrString;
  unavailable?: IntOrString;
  recreate?: boolean;
  limit?: number;
  image?: string;
  paused?: boolean;
  deadline?: number;
}

function dep(replicas: number, o: DepOpts = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1, annotations: { 'kubernetes.io/change-cause': 'v2', 'tugboat.io/last-applied-configuration': '{}' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: o.image ?? 'web:2' }] } },
      strategy: o.recreate === true ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: o.surge ?? '25%', maxUnavailable: o.unavailable ?? '25%' } },
      ...(o.limit === undefined ? {} : { revisionHistoryLimit: o.limit }),
      ...(o.paused === undefined ? {} : { paused: o.paused }),
      progressDeadlineSeconds: o.deadline ?? 600,
    },
  };
}

interface RsOpts {
  created?: number;
  revision?: number;
  statusReplicas?: number;
  maxReplicas?: number;
  desired?: number;
  image?: string;
}

function rs(name: string, replicas: number, available: number, o: RsOpts = {}): ReplicaSet {
  const annotations: Record<string, string> = {};
  if (o.revision !== undefined) annotations['deployment.kubernetes.io/revision'] = String(o.revision);
  if (o.maxReplicas !== undefined) annotations['deployment.kubernetes.io/max-replicas'] = String(o.maxReplicas);
  if (o.desired !== undefined) annotations['deployment.kubernetes.io/desired-replicas'] = String(o.desired);
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', uid: `${name}-uid`, generation: 1, creationTimestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, o.created ?? 0)).toISOString(), annotations },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', 'pod-template-hash': name } }, spec: { containers: [{ name: 'c', image: o.image ?? 'web:1' }] } },
    },
    status: { replicas: o.statusReplicas ?? replicas, readyReplicas: available, availableReplicas: available, observedGeneration: 1 },
  };
}

test('int-or-percent: percentages of the total, surge rounded up, unavailable down', () => {
  assert.equal(resolveIntOrPercent('25%', 10, true), 3);
  assert.equal(resolveIntOrPercent('25%', 10, false), 2);
  assert.equal(resolveIntOrPercent('0%', 10, true), 0);
  assert.equal(resolveIntOrPercent(2, 10, true), 2);
  assert.equal(resolveIntOrPercent('100%', 3, false), 3);
  assert.equal(resolveIntOrPercent(undefined, 3, true), 0);
});

test('fenceposts: defaults 25%/25%, never both 0, Recreate none, maxUnavailable at most replicas', () => {
  assert.deepEqual(fenceposts(dep(4)), { maxSurge: 1, maxUnavailable: 1 });
  assert.deepEqual(fenceposts(dep(10)), { maxSurge: 3, maxUnavailable: 2 });
  assert.deepEqual(fenceposts(dep(3)), { maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(fenceposts(dep(5, { surge: 0, unavailable: '0%' })), { maxSurge: 0, maxUnavailable: 1 });
  assert.deepEqual(fenceposts(dep(5, { recreate: true })), { maxSurge: 0, maxUnavailable: 0 });
  assert.equal(maxUnavailable(dep(3, { unavailable: 5 })), 3);
  assert.equal(maxUnavailable(dep(0, { unavailable: 5 })), 0);
});

test('new ReplicaSet growth: by the surge room, up to replicas; shrinks when above', () => {
  const cases: [string, Deployment, number, number, number][] = [
    // [what, deployment, new spec, old spec, expected new target]
    ['first step uses the surge', dep(4, { surge: 1 }), 0, 4, 1],
    ['no room while old are all there', dep(4, { surge: 1 }), 1, 4, 1],
    ['room after old shrank', dep(4, { surge: 1 }), 1, 3, 2],
    ['never above replicas', dep(4, { surge: 3 }), 3, 0, 4],
    ['above replicas: down to replicas', dep(4), 6, 0, 4],
    ['no surge: wait for old to shrink', dep(4, { surge: 0, unavailable: 1 }), 0, 4, 0],
    ['no surge: fill what old left', dep(4, { surge: 0, unavailable: 1 }), 0, 3, 1],
    ['percent surge of 10 is 3', dep(10), 0, 10, 3],
    ['Recreate: all at once', dep(5, { recreate: true }), 0, 0, 5],
  ];
  for (const [what, d, newSpec, oldSpec, want] of cases) {
    assert.equal(newReplicaSetTarget(d, rs('new', newSpec, 0, { created: 9 }), [rs('old', oldSpec, oldSpec)]), want, what);
  }
});

test('old ReplicaSets shrink only as far as availability allows, unhealthy and oldest first', () => {
  const sizes = (d: Deployment, n: ReplicaSet | undefined, olds: ReplicaSet[]) =>
    Object.fromEntries(oldReplicaSetScaleDowns(d, n, olds).map((a) => [a.rs.metadata.name, a.replicas]));
  const d = dep(4, { surge: 1, unavailable: 1 });
  assert.deepEqual(sizes(d, rs('new', 1, 0), [rs('old', 4, 4)]), { old: 3 }, 'one may go while the surge pod starts');
  assert.deepEqual(sizes(d, rs('new', 2, 1), [rs('old', 3, 3)]), { old: 2 });
  assert.deepEqual(sizes(d, rs('new', 1, 0), [rs('old', 3, 3)]), {}, 'at the minimum: wait for the new pod');
  assert.deepEqual(sizes(d, rs('new', 1, 0), [rs('old', 4, 2)]), { old: 3 }, 'an unavailable old pod goes first, no available one');
  assert.deepEqual(sizes(d, rs('new', 1, 0), [rs('old', 2, 3)]), {}, 'a stale status counts at most spec.replicas');
  assert.deepEqual(sizes(d, undefined, []), {});
  assert.deepEqual(sizes(dep(4, { surge: 0, unavailable: 2 }), rs('new', 0, 0), [rs('older', 2, 2, { created: 1 }), rs('newer', 2, 2, { created: 2 })]), { older: 0 }, 'oldest first');
  assert.deepEqual(sizes(dep(4, { surge: 1, unavailable: 0 }), rs('new', 1, 1), [rs('old', 4, 4)]), { old: 3 }, 'maxUnavailable 0: only once the new pod is available');
  assert.deepEqual(sizes(dep(4, { surge: 1, unavailable: 0 }), rs('new', 1, 0), [rs('old', 4, 4)]), {});
});

/**
 * A whole rolling update simulated: each round the controller takes one step (grow the new
 * ReplicaSet, else shrink old ones), then `readyPerRound` new pods become available. After
 * every step: available >= replicas - maxUnavailable, pods <= replicas + maxSurge.
 */
function simulateRollout(d: Deployment, readyPerRound: number): number {
  const replicas = d.spec.replicas ?? 1;
  const { maxSurge } = fenceposts(d);
  const minAvailable = replicas - maxUnavailable(d);
  let newRS = rs('new', 0, 0, { created: 9 });
  let oldRS = rs('old', replicas, replicas, { created: 1 });
  for (let round = 1; round <= 1000; round++) {
    const target = newReplicaSetTarget(d, newRS, [oldRS]);
    if (target !== newRS.spec.replicas) newRS = rs('new', target, newRS.status?.availableReplicas ?? 0, { created: 9 });
    else {
      for (const a of oldReplicaSetScaleDowns(d, newRS, [oldRS])) {
        oldRS = rs('old', a.replicas, Math.min(a.replicas, oldRS.status?.availableReplicas ?? 0), { created: 1 });
      }
    }
    const available = (newRS.status?.availableReplicas ?? 0) + (oldRS.status?.availableReplicas ?? 0);
    const what = `replicas ${replicas} surge ${String(d.spec.strategy?.rollingUpdate?.maxSurge)} unavailable ${String(d.spec.strategy?.rollingUpdate?.maxUnavailable)} round ${round}`;
    assert.ok(available >= minAvailable, `${what}: ${available} available < ${minAvailable}`);
    assert.ok((newRS.spec.replicas ?? 0) + (oldRS.spec.replicas ?? 0) <= replicas + maxSurge, `${what}: over the surge`);
    const newAvailable = Math.min(newRS.spec.replicas ?? 0, (newRS.status?.availableReplicas ?? 0) + readyPerRound);
    newRS = rs('new', newRS.spec.replicas ?? 0, newAvailable, { created: 9 });
    if (newAvailable === replicas && oldRS.spec.replicas === 0) return round;
  }
  assert.fail('the rollout did not finish in 1000 rounds');
}

test('rolling updates finish, never below replicas - maxUnavailable available nor above replicas + maxSurge', () => {
  const values: IntOrString[] = [0, 1, 2, 3, '0%', '10%', '25%', '50%', '100%'];
  let runs = 0;
  for (let replicas = 1; replicas <= 12; replicas++) {
    for (const surge of values) {
      for (const unavailable of values) {
        for (const readyPerRound of [1, 3]) {
          simulateRollout(dep(replicas, { surge, unavailable }), readyPerRound);
          runs++;
        }
      }
    }
  }
  assert.ok(runs > 1900);
  assert.ok(simulateRollout(dep(10, { surge: '100%', unavailable: 0 }), 10) < simulateRollout(dep(10, { surge: 1, unavailable: 0 }), 10), 'more surge, fewer rounds');
});

test('Recreate: old ReplicaSets to 0, wait for their pods, create the new one, size it', () => {
  const d = dep(3, { recreate: true });
  const old = rs('old', 3, 3);
  assert.deepEqual(recreateStep(d, undefined, [old], true), { step: 'scaleDownOld', actions: [{ rs: old, replicas: 0 }] });
  assert.deepEqual(recreateStep(d, undefined, [rs('old', 0, 0, { statusReplicas: 2 })], false), { step: 'waitForOldPods' }, 'status still counts pods');
  assert.deepEqual(recreateStep(d, undefined, [rs('old', 0, 0)], true), { step: 'waitForOldPods' }, 'terminating pods left');
  assert.deepEqual(recreateStep(d, undefined, [rs('old', 0, 0)], false), { step: 'createNew' });
  const fresh = rs('new', 0, 0);
  assert.deepEqual(recreateStep(d, fresh, [rs('old', 0, 0)], false), { step: 'scaleUpNew', actions: [{ rs: fresh, replicas: 3 }] });
  assert.deepEqual(recreateStep(d, rs('new', 3, 0), [rs('old', 0, 0)], false), { step: 'sized' });
});

test('scaling: one active ReplicaSet takes it all; a saturated new one ends the old; otherwise proportionally', () => {
  const d = dep(15);
  const single = scalingActions(d, rs('new', 10, 10, { created: 2 }), [rs('old', 0, 0, { created: 1 })]);
  assert.deepEqual(single.map((a) => [a.rs.metadata.name, a.replicas]), [['new', 15]]);
  const none = scalingActions(d, undefined, [rs('a', 0, 0, { created: 1 }), rs('b', 0, 0, { created: 2 })]);
  assert.deepEqual(none.map((a) => [a.rs.metadata.name, a.replicas]), [['b', 15]], 'nothing active: the newest');
  const saturated = scalingActions(dep(4), rs('new', 4, 4), [rs('old', 1, 1)]);
  assert.deepEqual(saturated.map((a) => [a.rs.metadata.name, a.replicas]), [['old', 0]]);
  // 10 -> 15 mid-rollout (maxSurge 25%: 13 pods allowed before, 19 after): 6 more shared 8:5.
  const shared = scalingActions(d, rs('new', 5, 3, { created: 2, maxReplicas: 13 }), [rs('old', 8, 8, { created: 1, maxReplicas: 13 })]);
  assert.deepEqual(Object.fromEntries(shared.map((a) => [a.rs.metadata.name, a.replicas])), { old: 12, new: 7 });
  // 15 -> 5: 19 allowed becomes 7; shrink 12:7 in proportion.
  const down = scalingActions(dep(5), rs('new', 7, 7, { created: 2, maxReplicas: 19 }), [rs('old', 12, 12, { created: 1, maxReplicas: 19 })]);
  const total = down.reduce((n, a) => n + a.replicas, 0);
  assert.equal(total, 7, JSON.stringify(down.map((a) => [a.rs.metadata.name, a.replicas])));
  assert.ok(isScalingEvent(dep(5), [rs('x', 2, 2, { desired: 4 })]));
  assert.ok(!isScalingEvent(dep(4), [rs('x', 2, 2, { desired: 4 }), rs('y', 0, 0, { desired: 9 })]));
});

test('revisions: one above the highest old one; a rollback target gets a new revision; annotations copied', () => {
  assert.equal(nextRevision([]), 1);
  assert.equal(nextRevision([rs('a', 0, 0, { revision: 1 }), rs('b', 0, 0, { revision: 3 })]), 4);
  const d = dep(3);
  const rolledBack = newReplicaSetAnnotations(d, rs('a', 0, 0, { revision: 1 }), 4);
  assert.equal(rolledBack['deployment.kubernetes.io/revision'], '4');
  assert.equal(rolledBack['kubernetes.io/change-cause'], 'v2');
  assert.equal(rolledBack['tugboat.io/last-applied-configuration'], undefined, 'not the apply record');
  assert.equal(newReplicaSetAnnotations(d, rs('a', 0, 0, { revision: 5 }), 4)['deployment.kubernetes.io/revision'], '5', 'never lowered');
});

test('template hash: stable, short, key order free, changes with the template and the collision count', () => {
  const d = dep(3);
  const h = templateHash(d.spec.template);
  assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,8}$/);
  const reordered = { spec: { containers: [{ image: 'web:2', name: 'c' }] }, metadata: { labels: { app: 'web' } } };
  assert.equal(templateHash(reordered), h);
  assert.equal(templateHash({ ...d.spec.template, metadata: { labels: { app: 'web', 'pod-template-hash': 'x' } } }), h, 'the hash label does not count');
  assert.notEqual(templateHash(dep(3, { image: 'web:3' }).spec.template), h);
  assert.notEqual(templateHash(d.spec.template, 1), h);
});

test('the new ReplicaSet: DEPLOY-HASH, hash label on itself, selector and pods, owned, revision and change cause', () => {
  const d = dep(3);
  d.spec.minReadySeconds = 5;
  const r = newReplicaSetFor(d, 2, 1);
  const h = templateHash(d.spec.template);
  assert.equal(r.metadata.name, `web-${h}`);
  assert.deepEqual(r.metadata.labels, { app: 'web', 'pod-template-hash': h });
  assert.deepEqual(r.spec.selector.matchLabels, { app: 'web', 'pod-template-hash': h });
  assert.deepEqual(r.spec.template.metadata?.labels, { app: 'web', 'pod-template-hash': h });
  assert.equal(r.spec.replicas, 1);
  assert.equal(r.spec.minReadySeconds, 5);
  assert.equal(r.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
  assert.equal(r.metadata.annotations?.['kubernetes.io/change-cause'], 'v2');
  assert.equal(r.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '4');
  assert.deepEqual(r.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true, blockOwnerDeletion: true }]);
  assert.equal(d.spec.template.metadata?.labels?.['pod-template-hash'], undefined, 'the Deployment is not changed');
  assert.equal(findNewReplicaSet(d, [rs('old', 0, 0), { ...r, metadata: { ...r.metadata, creationTimestamp: '2025-01-01T00:00:00Z' } }])?.metadata.name, r.metadata.name);
});

test('history: old ReplicaSets beyond the limit, lowest revisions first, only empty ones', () => {
  const olds = [rs('r1', 0, 0, { revision: 1 }), rs('r2', 1, 1, { revision: 2 }), rs('r3', 0, 0, { revision: 3 }), rs('r4', 0, 0, { revision: 4 })];
  assert.deepEqual(replicaSetsToPrune(dep(3, { limit: 2 }), olds).map((r) => r.metadata.name), ['r1'], 'r2 still has a replica');
  assert.deepEqual(replicaSetsToPrune(dep(3, { limit: 0 }), olds).map((r) => r.metadata.name), ['r1', 'r3', 'r4']);
  assert.deepEqual(replicaSetsToPrune(dep(3, { limit: 10 }), olds), []);
  const noLimit = dep(3);
  delete noLimit.spec.revisionHistoryLimit;
  assert.deepEqual(replicaSetsToPrune(noLimit, olds), []);
  assert.deepEqual(replicaSetsToPrune(dep(3, { limit: 0 }), [rs('r1', 0, 0, { revision: 1, statusReplicas: 1 })]), [], 'pods still reported');
});

test('status: counts, Available, and Progressing through a rollout, its completion, a deadline and a pause', () => {
  const t0 = Date.UTC(2025, 0, 1);
  const d = dep(3, { deadline: 60 });
  const created = deploymentStatus(d, rs('new', 1, 0), [rs('new', 1, 0), rs('old', 3, 3)], t0, { reason: 'NewReplicaSetCreated', message: 'Created new replica set "new"' });
  assert.equal(created.status.replicas, 4);
  assert.equal(created.status.updatedReplicas, 1);
  assert.equal(created.status.availableReplicas, 3);
  assert.equal(created.status.unavailableReplicas, 1);
  assert.equal(created.status.observedGeneration, 1);
  const cond = (s: typeof created.status, type: string) => s.conditions?.find((c) => c.type === type);
  assert.equal(cond(created.status, 'Available')?.status, 'True');
  assert.equal(cond(created.status, 'Progressing')?.reason, 'NewReplicaSetCreated');

  const d1 = { ...d, status: created.status };
  const stuck = deploymentStatus(d1, rs('new', 1, 0), [rs('new', 1, 0), rs('old', 3, 3)], t0 + 30_000);
  assert.equal(cond(stuck.status, 'Progressing')?.reason, 'NewReplicaSetCreated', 'no progress yet, within the deadline');
  assert.equal(stuck.recheckInMs, 31_000, 'look again when the deadline passes');
  const late = deploymentStatus(d1, rs('new', 1, 0), [rs('new', 1, 0), rs('old', 3, 3)], t0 + 61_000);
  assert.equal(cond(late.status, 'Progressing')?.status, 'False');
  assert.equal(cond(late.status, 'Progressing')?.reason, 'ProgressDeadlineExceeded');

  const moved = deploymentStatus({ ...d, status: late.status }, rs('new', 2, 1), [rs('new', 2, 1), rs('old', 2, 2)], t0 + 62_000);
  assert.equal(cond(moved.status, 'Progressing')?.reason, 'ReplicaSetUpdated', 'progress clears the deadline');
  assert.equal(cond(moved.status, 'Progressing')?.status, 'True');

  const done = deploymentStatus({ ...d, status: moved.status }, rs('new', 3, 3), [rs('new', 3, 3), rs('old', 0, 0)], t0 + 63_000);
  assert.equal(cond(done.status, 'Progressing')?.reason, 'NewReplicaSetAvailable');
  assert.equal(done.recheckInMs, undefined);
  const later = deploymentStatus({ ...d, status: done.status }, rs('new', 3, 3), [rs('new', 3, 3), rs('old', 0, 0)], t0 + 999_000);
  assert.deepEqual(later.status, done.status, 'a finished rollout stays finished');

  const low = deploymentStatus(d, rs('new', 3, 1), [rs('new', 3, 1)], t0);
  assert.equal(cond(low.status, 'Available')?.status, 'False');
  const paused = deploymentStatus(dep(3, { paused: true }), rs('new', 3, 1), [rs('new', 3, 1)], t0);
  assert.equal(cond(paused.status, 'Progressing')?.reason, 'DeploymentPaused');
  const resumed = deploymentStatus({ ...dep(3), status: paused.status }, rs('new', 3, 1), [rs('new', 3, 1)], t0);
  assert.equal(cond(resumed.status, 'Progressing')?.reason, 'DeploymentResumed');
});
