// node-health.test.ts: the node lifecycle controller's decisions: heartbeat ages (the Node's
// Lease and its status), the taints a health calls for, toleration matching and when a pod is
// evicted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease, Node, NodeCondition, Pod, Taint, Toleration } from '@tugboat/api';
import { TAINT_NOT_READY, TAINT_UNREACHABLE, assessNode, evictionAtMs, healthTaints, planEvictions, tolerates } from '@tugboat/controllers';
import { actsFromMs, heartbeatMs, withReadyUnknown } from './node-health.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const GRACE_MS = 5_000;

function node(ready: Partial<NodeCondition> | undefined, taints?: Taint[]): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1', creationTimestamp: iso(T0 - 60_000) },
    spec: taints === undefined ? {} : { taints },
    status: ready === undefined ? {} : { conditions: [{ type: 'Ready', status: 'True', ...ready }] },
  };
}

function lease(renewMs: number | undefined): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'n1', namespace: 'tug-node-lease' },
    spec: { holderIdentity: 'n1', leaseDurationSeconds: 8, ...(renewMs === undefined ? {} : { renewTime: iso(renewMs) }) },
  };
}

function pod(name: string, tolerations?: Toleration[], deleting = false): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(deleting ? { deletionTimestamp: iso(T0) } : {}) },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...(tolerations === undefined ? {} : { tolerations }) },
  };
}

const unreachable = (added: number): Taint[] => [
  { key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded: iso(added) },
  { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(added) },
];

describe('assessNode: heartbeat age against the grace period', () => {
  it('a fresh True heartbeat is ready and says when it goes stale', () => {
    const a = assessNode(node({ lastHeartbeatTime: iso(T0) }), undefined, T0 + 4_999, GRACE_MS);
    assert.deepEqual(a, { health: 'ready', markUnknown: false, staleAtMs: T0 + GRACE_MS });
  });

  it('a heartbeat exactly grace old is stale: Unknown is to be written', () => {
    assert.deepEqual(assessNode(node({ lastHeartbeatTime: iso(T0) }), undefined, T0 + GRACE_MS, GRACE_MS), { health: 'unreachable', markUnknown: true, staleAtMs: undefined });
  });

  it('a stale False heartbeat is unreachable too (the agent stopped posting)', () => {
    assert.equal(assessNode(node({ status: 'False', lastHeartbeatTime: iso(T0) }), undefined, T0 + 9_000, GRACE_MS).health, 'unreachable');
  });

  it('a fresh False heartbeat is not-ready', () => {
    assert.deepEqual(assessNode(node({ status: 'False', lastHeartbeatTime: iso(T0) }), undefined, T0 + 1_000, GRACE_MS), { health: 'not-ready', markUnknown: false, staleAtMs: T0 + GRACE_MS });
  });

  it('Ready Unknown stays unreachable and is not written again', () => {
    assert.deepEqual(assessNode(node({ status: 'Unknown', lastHeartbeatTime: iso(T0) }), undefined, T0 + 60_000, GRACE_MS), { health: 'unreachable', markUnknown: false, staleAtMs: undefined });
  });

  it('a Node without a Ready condition ages from its creation', () => {
    const n = node(undefined);
    assert.equal(assessNode(n, undefined, T0 - 58_000, GRACE_MS).health, 'unreported');
    assert.equal(assessNode(n, undefined, T0 - 55_000, GRACE_MS).markUnknown, true);
  });

  it('withReadyUnknown keeps the heartbeat time and the other conditions', () => {
    const n = node({ lastHeartbeatTime: iso(T0), reason: 'AgentReady' });
    n.status!.conditions!.push({ type: 'MemoryPressure', status: 'False' });
    const u = withReadyUnknown(n, iso(T0 + GRACE_MS));
    assert.deepEqual(u.status?.conditions, [
      { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'tug-agent stopped posting node status', lastTransitionTime: iso(T0 + GRACE_MS), lastHeartbeatTime: iso(T0) },
      { type: 'MemoryPressure', status: 'False' },
    ]);
    assert.equal(n.status?.conditions?.[0]?.status, 'True', 'the input is not changed');
  });
});

describe('assessNode: the Lease is the heartbeat, the status its fallback', () => {
  it('the heartbeat is the later of the Lease renewal (ms precision) and the status', () => {
    const n = node({ lastHeartbeatTime: iso(T0) });
    assert.equal(heartbeatMs(n, lease(T0 + 42_123)), T0 + 42_123);
    assert.equal(heartbeatMs(n, lease(T0 - 10_000)), T0, 'a status written after the last renewal counts');
    assert.equal(heartbeatMs(n, lease(undefined)), T0, 'a Lease never renewed counts for nothing');
    assert.equal(heartbeatMs(node(undefined), lease(T0)), T0, 'renewed before the first status: the Lease');
  });

  it('a Node whose status is old but whose Lease is fresh stays Ready', () => {
    const n = node({ lastHeartbeatTime: iso(T0) });
    const now = T0 + 60_000;
    assert.deepEqual(assessNode(n, lease(now - 2_000), now, GRACE_MS), { health: 'ready', markUnknown: false, staleAtMs: now - 2_000 + GRACE_MS });
  });

  it('a Lease that stops being renewed makes the Node unreachable a grace period after its last renewal', () => {
    const n = node({ lastHeartbeatTime: iso(T0) });
    const renewed = T0 + 60_000;
    assert.equal(assessNode(n, lease(renewed), renewed + GRACE_MS - 1, GRACE_MS).health, 'ready');
    assert.deepEqual(assessNode(n, lease(renewed), renewed + GRACE_MS, GRACE_MS), { health: 'unreachable', markUnknown: true, staleAtMs: undefined });
  });

  it('a Node without a Lease (an older agent) goes by its Ready condition', () => {
    const n = node({ lastHeartbeatTime: iso(T0) });
    assert.equal(assessNode(n, undefined, T0 + GRACE_MS - 1, GRACE_MS).health, 'ready');
    assert.equal(assessNode(n, undefined, T0 + GRACE_MS, GRACE_MS).markUnknown, true);
  });

  it('a fresh Lease does not hide what the status says: Ready False is not-ready, Unknown stays until the agent writes', () => {
    assert.equal(assessNode(node({ status: 'False', lastHeartbeatTime: iso(T0) }), lease(T0 + 60_000), T0 + 61_000, GRACE_MS).health, 'not-ready');
    assert.deepEqual(assessNode(node({ status: 'Unknown', lastHeartbeatTime: iso(T0) }), lease(T0 + 60_000), T0 + 61_000, GRACE_MS), {
      health: 'unreachable',
      markUnknown: false,
      staleAtMs: undefined,
    });
  });
});

describe('healthTaints', () => {
  const now = iso(T0);
  it('unreachable adds NoSchedule and NoExecute with timeAdded, keeping other taints', () => {
    const other: Taint = { key: 'dedicated', value: 'db', effect: 'NoSchedule' };
    assert.deepEqual(healthTaints('unreachable', [other], now), [other, ...unreachable(T0)]);
  });

  it('nothing to change when they are there already (timeAdded kept)', () => {
    assert.equal(healthTaints('unreachable', unreachable(T0 - 3_000), now), undefined);
    assert.equal(healthTaints('ready', [{ key: 'dedicated', effect: 'NoExecute' }], now), undefined);
    assert.equal(healthTaints('unreported', undefined, now), undefined);
  });

  it('not-ready swaps the unreachable taints for its own', () => {
    assert.deepEqual(healthTaints('not-ready', unreachable(T0 - 3_000), now), [
      { key: TAINT_NOT_READY, effect: 'NoSchedule', timeAdded: now },
      { key: TAINT_NOT_READY, effect: 'NoExecute', timeAdded: now },
    ]);
  });

  it('ready removes both, and only the NoSchedule/NoExecute ones', () => {
    const soft: Taint = { key: TAINT_NOT_READY, effect: 'PreferNoSchedule' };
    assert.deepEqual(healthTaints('ready', [...unreachable(T0), soft], now), [soft]);
  });

  it('a missing half is added back', () => {
    assert.deepEqual(healthTaints('unreachable', [unreachable(T0 - 1_000)[1]!], now), [unreachable(T0 - 1_000)[1], unreachable(T0)[0]]);
  });
});

describe('tolerates', () => {
  const taint: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute' };
  const cases: [Toleration, Taint, boolean][] = [
    [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }, taint, true],
    [{ key: TAINT_UNREACHABLE, operator: 'Exists' }, taint, true],
    [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoSchedule' }, taint, false],
    [{ operator: 'Exists' }, taint, true],
    [{ key: '', operator: 'Equal' }, taint, false],
    [{ key: TAINT_NOT_READY, operator: 'Exists' }, taint, false],
    [{ key: 'k', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' }, true],
    [{ key: 'k', operator: 'Equal', value: 'v' }, { key: 'k', value: 'w', effect: 'NoExecute' }, false],
    [{ key: 'k' }, { key: 'k', effect: 'NoExecute' }, true],
  ];
  for (const [t, x, want] of cases) {
    it(`${JSON.stringify(t)} ${want ? 'tolerates' : 'does not tolerate'} ${x.key}=${x.value ?? ''}:${x.effect}`, () => assert.equal(tolerates(t, x), want));
  }
});

describe('evictionAtMs and planEvictions', () => {
  const taints = unreachable(T0);
  const exists = (seconds?: number): Toleration => ({ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', ...(seconds === undefined ? {} : { tolerationSeconds: seconds }) });

  it('no toleration: the default seconds after the taint was added', () => {
    assert.equal(evictionAtMs(pod('a'), taints, 2, T0 + 99_000), T0 + 2_000);
  });

  it('a matching toleration with seconds decides, the least of several; negative is 0', () => {
    assert.equal(evictionAtMs(pod('a', [exists(30)]), taints, 2, T0), T0 + 30_000);
    assert.equal(evictionAtMs(pod('a', [exists(30), exists(7), exists()]), taints, 2, T0), T0 + 7_000);
    assert.equal(evictionAtMs(pod('a', [exists(-5)]), taints, 2, T0), T0);
  });

  it('a toleration without seconds tolerates forever', () => {
    assert.equal(evictionAtMs(pod('a', [exists()]), taints, 2, T0), undefined);
    assert.equal(evictionAtMs(pod('a', [{ operator: 'Exists' }]), taints, 2, T0), undefined);
  });

  it('NoSchedule taints evict nobody; another NoExecute taint not tolerated evicts at once', () => {
    assert.equal(evictionAtMs(pod('a'), [taints[0]!], 2, T0), undefined);
    const custom: Taint = { key: 'maintenance', effect: 'NoExecute', timeAdded: iso(T0 + 1_000) };
    assert.equal(evictionAtMs(pod('a', [exists()]), [...taints, custom], 2, T0), T0 + 1_000);
  });

  it('a taint without timeAdded counts from the time given', () => {
    assert.equal(evictionAtMs(pod('a'), [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }], 2, T0 + 500), T0 + 2_500);
  });

  it('planEvictions: due pods now, the next one later, forever-tolerating pods stay', () => {
    const pods = [pod('default'), pod('slow', [exists(10)]), pod('forever', [exists()])];
    const early = planEvictions(pods, taints, 'unreachable', T0 + 1_000, 2);
    assert.deepEqual(early, { due: [], force: true, nextAtMs: T0 + 2_000 });
    const later = planEvictions(pods, taints, 'unreachable', T0 + 2_000, 2);
    assert.deepEqual(later.due.map((p) => p.metadata.name), ['default']);
    assert.equal(later.nextAtMs, T0 + 10_000);
  });

  it('terminating pods: left to the agent on a not-ready node, force-deleted on an unreachable one', () => {
    const notReady: Taint[] = [{ key: TAINT_NOT_READY, effect: 'NoExecute', timeAdded: iso(T0) }];
    const p = planEvictions([pod('t', undefined, true), pod('u')], notReady, 'not-ready', T0 + 5_000, 2);
    assert.deepEqual({ due: p.due.map((x) => x.metadata.name), force: p.force }, { due: ['u'], force: false });
    const q = planEvictions([pod('t', undefined, true)], taints, 'unreachable', T0 + 5_000, 2);
    assert.deepEqual(q.due.map((x) => x.metadata.name), ['t']);
  });
});

describe('a new leader counts heartbeats and taints from when it began watching', () => {
  it('gives every Node a full grace period after a control-plane outage', () => {
    const n = node({ lastHeartbeatTime: iso(T0) });
    const since = T0 + 30_000; // the leader came back 30 s after the last heartbeat it could store
    assert.equal(assessNode(n, undefined, since + 1_000, GRACE_MS, since).health, 'ready');
    assert.equal(assessNode(n, undefined, since + 1_000, GRACE_MS, since).staleAtMs, since + GRACE_MS);
    assert.equal(assessNode(n, undefined, since + GRACE_MS, GRACE_MS, since).health, 'unreachable');
  });

  it('acts on a node it found unreachable only after a grace period of its own', () => {
    const since = T0 + 60_000;
    const from = actsFromMs('unreachable', since, GRACE_MS);
    assert.equal(from, since + GRACE_MS);
    assert.deepEqual(planEvictions([pod('p')], unreachable(T0), 'unreachable', since + GRACE_MS, 2, from).due, []);
    assert.deepEqual(planEvictions([pod('p')], unreachable(T0), 'unreachable', since + GRACE_MS + 2_000, 2, from).due.map((x) => x.metadata.name), ['p']);
    assert.equal(actsFromMs('not-ready', since, GRACE_MS), since, 'an agent that reports NotReady is heard: no wait');
  });

  it('times evictions of an old taint from then too', () => {
    const since = T0 + 60_000;
    assert.equal(evictionAtMs(pod('p'), unreachable(T0), 2, T0, since), since + 2_000);
    const plan = planEvictions([pod('p')], unreachable(T0), 'unreachable', since + 1_000, 2, since);
    assert.deepEqual(plan.due, []);
    assert.equal(plan.nextAtMs, since + 2_000);
  });
});
