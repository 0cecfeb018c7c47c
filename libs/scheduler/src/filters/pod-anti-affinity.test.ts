import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodAntiAffinity } from '@tugboat/api';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { ANTI_AFFINITY_MISMATCH, podAntiAffinity } from './pod-anti-affinity.ts';

const M = ANTI_AFFINITY_MISMATCH;
const zones = [testNode('a1', { labels: { zone: 'a' } }), testNode('a2', { labels: { zone: 'a' } }), testNode('b1', { labels: { zone: 'b' } }), testNode('bare')];

function away(topologyKey: string, app = 'web'): PodAntiAffinity {
  return { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey }] };
}

test('the pod avoids the nodes (or zones) of the pods its terms select', () => {
  const s = testSnapshot(zones, [testPod('w0', { labels: { app: 'web' }, nodeName: 'a1' }), testPod('other', { labels: { app: 'db' }, nodeName: 'b1' })]);
  const byHost = testPod('w1', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: away('kubernetes.io/hostname') } } });
  assert.deepEqual(verdicts(podAntiAffinity, byHost, s), { a1: M, a2: '', b1: '', bare: '' });
  const byZone = testPod('w2', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: away('zone') } } });
  assert.deepEqual(verdicts(podAntiAffinity, byZone, s), { a1: M, a2: M, b1: '', bare: '' }, 'a node without the key is in no zone');
});

test('placed pods refuse the incoming pods their terms select', () => {
  const loner = testPod('loner', { labels: { app: 'loner' }, nodeName: 'a1', spec: { affinity: { podAntiAffinity: away('zone', 'web') } } });
  const s = testSnapshot(zones, [loner]);
  assert.deepEqual(verdicts(podAntiAffinity, testPod('w', { labels: { app: 'web' } }), s), { a1: M, a2: M, b1: '', bare: '' });
  assert.deepEqual(verdicts(podAntiAffinity, testPod('d', { labels: { app: 'db' } }), s), { a1: '', a2: '', b1: '', bare: '' });
  assert.deepEqual(verdicts(podAntiAffinity, testPod('w', { labels: { app: 'web' }, namespace: 'other' }), s).a1, '', 'terms look in their own namespace');
});

test('assumed pods count; terminating pods do not', () => {
  const s = testSnapshot(zones);
  const pod = testPod('w1', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: away('kubernetes.io/hostname') } } });
  s.assumePod(testPod('w0', { labels: { app: 'web' } }), 'b1');
  const leaving = testPod('w9', { labels: { app: 'web' }, nodeName: 'a2' });
  leaving.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
  s.addPod(leaving);
  assert.deepEqual(verdicts(podAntiAffinity, pod, s), { a1: '', a2: '', b1: M, bare: '' });
});
