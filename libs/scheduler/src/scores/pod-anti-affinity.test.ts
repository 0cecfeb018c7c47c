import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { preferredPodAntiAffinity } from './pod-anti-affinity.ts';
import { scores } from './scores-helpers.ts';

test('preferred anti-affinity: nodes with fewer selected pods in their domain score higher', () => {
  const s = testSnapshot(
    [testNode('a'), testNode('b'), testNode('c')],
    [testPod('w0', { labels: { app: 'web' }, nodeName: 'a' }), testPod('w1', { labels: { app: 'web' }, nodeName: 'a' }), testPod('w2', { labels: { app: 'web' }, nodeName: 'b' })],
  );
  const pod = testPod('w3', {
    labels: { app: 'web' },
    spec: {
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' } }],
        },
      },
    },
  });
  assert.deepEqual(scores(preferredPodAntiAffinity, pod, s), { a: 0, b: 50, c: 100 });
  assert.equal(scores(preferredPodAntiAffinity, testPod('q'), s), undefined);
});
