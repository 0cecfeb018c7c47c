import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { scores } from './scores-helpers.ts';
import { softTopologySpread } from './topology-spread.ts';

test('ScheduleAnyway: emptier domains score higher, nodes without the key lowest', () => {
  const web = { app: 'web' };
  const s = testSnapshot(
    [testNode('a1', { labels: { zone: 'a' } }), testNode('a2', { labels: { zone: 'a' } }), testNode('b1', { labels: { zone: 'b' } }), testNode('bare')],
    [testPod('w0', { labels: web, nodeName: 'a1' }), testPod('w1', { labels: web, nodeName: 'a2' }), testPod('w2', { labels: web, nodeName: 'b1' })],
  );
  const pod = testPod('w3', { labels: web, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: web } }] } });
  // costs: zone a 2, zone b 1, bare 3 (below every labelled node).
  assert.deepEqual(scores(softTopologySpread, pod, s), { a1: 50, a2: 50, b1: 100, bare: 0 });
});
