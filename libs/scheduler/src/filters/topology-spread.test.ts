import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TopologySpreadConstraint } from '@tugboat/api';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { TOPOLOGY_SPREAD_MISMATCH, topologySpread } from './topology-spread.ts';

const M = TOPOLOGY_SPREAD_MISMATCH;
const web = { app: 'web' };

function spread(topologyKey: string, maxSkew = 1, extra: Partial<TopologySpreadConstraint> = {}): TopologySpreadConstraint {
  return { maxSkew, topologyKey, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: web }, ...extra };
}

const nodes = [testNode('a1', { labels: { zone: 'a' } }), testNode('a2', { labels: { zone: 'a' } }), testNode('b1', { labels: { zone: 'b' } }), testNode('bare')];

test('a domain may not exceed the emptiest by more than maxSkew; a node without the key is out', () => {
  const s = testSnapshot(nodes, [testPod('w0', { labels: web, nodeName: 'a1' }), testPod('w1', { labels: web, nodeName: 'a2' })]);
  const pod = testPod('w2', { labels: web, spec: { topologySpreadConstraints: [spread('zone')] } });
  assert.deepEqual(verdicts(topologySpread, pod, s), { a1: M, a2: M, b1: '', bare: M });
  const loose = testPod('w2', { labels: web, spec: { topologySpreadConstraints: [spread('zone', 3)] } });
  assert.deepEqual(verdicts(topologySpread, loose, s), { a1: '', a2: '', b1: '', bare: M });
});

test('only nodes the pod may use make domains; minDomains counts missing domains as empty', () => {
  const s = testSnapshot(nodes, [testPod('w0', { labels: web, nodeName: 'a1' })]);
  const onlyA = testPod('w1', { labels: web, spec: { nodeSelector: { zone: 'a' }, topologySpreadConstraints: [spread('zone')] } });
  assert.deepEqual(verdicts(topologySpread, onlyA, s), { a1: '', a2: '', b1: '', bare: M }, 'zone b is not a domain for this pod: a has 1 and is the emptiest');
  const atLeast3 = testPod('w1', { labels: web, spec: { nodeSelector: { zone: 'a' }, topologySpreadConstraints: [spread('zone', 1, { minDomains: 3 })] } });
  // b1 is outside the pod's nodeSelector: the NodeAffinity filter turns it down before this one.
  assert.deepEqual(verdicts(topologySpread, atLeast3, s), { a1: M, a2: M, b1: '', bare: M });
});

test('ScheduleAnyway constraints do not filter', () => {
  const s = testSnapshot(nodes, [testPod('w0', { labels: web, nodeName: 'a1' }), testPod('w1', { labels: web, nodeName: 'a2' })]);
  const pod = testPod('w2', { labels: web, spec: { topologySpreadConstraints: [spread('zone', 1, { whenUnsatisfiable: 'ScheduleAnyway' })] } });
  assert.deepEqual(verdicts(topologySpread, pod, s), { a1: '', a2: '', b1: '', bare: '' });
});
