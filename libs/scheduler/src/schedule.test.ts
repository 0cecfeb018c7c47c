import { test } from 'node:test';
import assert from 'node:assert/strict';
import { feasibleNodesToFind, schedulePod } from './schedule.ts';
import { Snapshot } from './snapshot.ts';
import { testNode, testPod, testSnapshot } from './test-objects.ts';

test('an unschedulable pod is told why, node by node, in the Kubernetes wording', () => {
  const s = testSnapshot([
    testNode('small-1', { memory: '1Gi' }),
    testNode('small-2', { memory: '1Gi' }),
    testNode('cordoned', { spec: { unschedulable: true } }),
    testNode('down', { ready: false }),
    testNode('tainted', { spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] } }),
  ]);
  assert.deepEqual(schedulePod(testPod('big', { memory: '4Gi' }), s), {
    unschedulable:
      '0/5 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready, 1 node(s) were unschedulable.',
  });
  assert.deepEqual(schedulePod(testPod('p'), new Snapshot()), { unschedulable: '0/0 nodes are available: no nodes available to schedule pods.' });
});

test('replicas placed one after another spread evenly over equal nodes', () => {
  const s = testSnapshot([testNode('a'), testNode('b'), testNode('c')]);
  const per = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const pod = testPod(`r${i}`, { owner: 'rs', cpu: '100m', memory: '64Mi' });
    const r = schedulePod(pod, s);
    assert.ok('nodeName' in r, JSON.stringify(r));
    s.assumePod(pod, r.nodeName);
    per.set(r.nodeName, (per.get(r.nodeName) ?? 0) + 1);
  }
  assert.deepEqual([...per.values()], [10, 10, 10]);
});

test('the emptier node wins; ties go different ways for different pods, the same way for the same pod', () => {
  const s = testSnapshot([testNode('a'), testNode('b')], [testPod('x', { cpu: '1', nodeName: 'a' })]);
  assert.deepEqual(schedulePod(testPod('p', { cpu: '1' }), s), { nodeName: 'b' });
  const even = testSnapshot(['a', 'b', 'c', 'd'].map((n) => testNode(n)));
  const chosen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const pod = testPod(`p${i}`);
    const first = schedulePod(pod, even);
    assert.deepEqual(schedulePod(pod, even), first);
    if ('nodeName' in first) chosen.add(first.nodeName);
  }
  assert.ok(chosen.size > 1, `every pod went to ${[...chosen].join(', ')}`);
});

test('filters and scores combine: the pod goes where it may and where it is preferred', () => {
  const s = testSnapshot([testNode('gpu', { labels: { gpu: 'yes' }, spec: { taints: [{ key: 'gpu', effect: 'NoSchedule' }] } }), testNode('plain'), testNode('ssd', { labels: { disk: 'ssd' } })]);
  assert.deepEqual(schedulePod(testPod('p', { spec: { nodeSelector: { gpu: 'yes' }, tolerations: [{ key: 'gpu', operator: 'Exists' }] } }), s), { nodeName: 'gpu' });
  const prefersSsd = testPod('q', {
    spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } } },
  });
  assert.deepEqual(schedulePod(prefersSsd, s), { nodeName: 'ssd' });
});

test('with many nodes only a sample is examined, unless too few of them fit', () => {
  assert.equal(feasibleNodesToFind(50), 50);
  assert.equal(feasibleNodesToFind(1000), 420);
  assert.equal(feasibleNodesToFind(5000, 1), 100);
  assert.equal(feasibleNodesToFind(1000, 100), 1000);
  const nodes = Array.from({ length: 300 }, (_, i) => testNode(`n${i}`, i === 299 ? { labels: { only: 'me' } } : {}));
  const s = testSnapshot(nodes);
  assert.deepEqual(schedulePod(testPod('p', { spec: { nodeSelector: { only: 'me' } } }), s, { percentageOfNodesToScore: 5 }), { nodeName: 'n299' });
});
