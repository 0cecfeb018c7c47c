import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { preferredNodeAffinity } from './node-affinity.ts';
import { scores } from './scores-helpers.ts';

test('preferred terms add their weights; the best node gets 100', () => {
  const s = testSnapshot([testNode('ssd-fast', { labels: { disk: 'ssd', net: 'fast' } }), testNode('ssd', { labels: { disk: 'ssd' } }), testNode('none')]);
  const pod = testPod('p', {
    spec: {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 30, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
            { weight: 10, preference: { matchExpressions: [{ key: 'net', operator: 'Exists' }] } },
          ],
        },
      },
    },
  });
  assert.deepEqual(scores(preferredNodeAffinity, pod, s), { 'ssd-fast': 100, ssd: 75, none: 0 });
  assert.equal(scores(preferredNodeAffinity, testPod('q'), s), undefined);
});
