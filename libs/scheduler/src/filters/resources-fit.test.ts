import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { resourcesFit } from './resources-fit.ts';

test('requests must fit in allocatable minus what placed pods request', () => {
  const s = testSnapshot(
    [testNode('small', { cpu: '1', memory: '1Gi' }), testNode('busy', { cpu: '4', memory: '8Gi' }), testNode('roomy', { cpu: '4', memory: '8Gi' })],
    [testPod('hog', { cpu: '3500m', memory: '7Gi', nodeName: 'busy' })],
  );
  assert.deepEqual(verdicts(resourcesFit, testPod('p', { cpu: '1', memory: '2Gi' }), s), {
    small: 'Insufficient memory',
    busy: 'Insufficient cpu + Insufficient memory',
    roomy: '',
  });
  assert.deepEqual(verdicts(resourcesFit, testPod('exact', { cpu: '500m', memory: '1Gi' }), s), { small: '', busy: '', roomy: '' });
});

test('a pod without requests fits an overcommitted node, but not a full pod count', () => {
  const s = testSnapshot([testNode('full', { cpu: '1', pods: '1' }), testNode('over', { cpu: '1' })], [testPod('a', { cpu: '1', nodeName: 'full' }), testPod('b', { cpu: '1', nodeName: 'over' })]);
  assert.deepEqual(verdicts(resourcesFit, testPod('p'), s), { full: 'Too many pods', over: '' });
});
