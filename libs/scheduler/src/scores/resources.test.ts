import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { balancedAllocation, leastAllocated } from './resources.ts';
import { scores } from './scores-helpers.ts';

test('least allocated: the mean share of cpu and memory left with the pod placed', () => {
  const s = testSnapshot([testNode('empty', { cpu: '4', memory: '4Gi' }), testNode('half', { cpu: '4', memory: '4Gi' })], [testPod('x', { cpu: '2', memory: '2Gi', nodeName: 'half' })]);
  assert.deepEqual(scores(leastAllocated, testPod('p', { cpu: '1', memory: '1Gi' }), s), { empty: 75, half: 25 });
});

test('pods without requests score as 100m and 200Mi, so they still spread', () => {
  const s = testSnapshot([testNode('a', { cpu: '1', memory: '1000Mi' }), testNode('b', { cpu: '1', memory: '1000Mi' })], [testPod('x', { nodeName: 'a' })]);
  assert.deepEqual(scores(leastAllocated, testPod('p'), s), { a: 70, b: 85 });
});

test('balanced allocation: cpu and memory shares kept close', () => {
  const s = testSnapshot([testNode('cpu-heavy', { cpu: '4', memory: '4Gi' }), testNode('even', { cpu: '4', memory: '4Gi' })], [testPod('x', { cpu: '2', memory: '1Mi', nodeName: 'cpu-heavy' })]);
  assert.deepEqual(scores(balancedAllocation, testPod('p', { cpu: '1', memory: '1Gi' }), s), { 'cpu-heavy': 75, even: 100 });
});
