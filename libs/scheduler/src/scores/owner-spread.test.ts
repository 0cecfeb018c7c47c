import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZONE_LABEL } from '../node-info.ts';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { ownerSpread } from './owner-spread.ts';
import { scores } from './scores-helpers.ts';

test('replicas of one owner spread over nodes', () => {
  const s = testSnapshot(
    [testNode('a'), testNode('b'), testNode('c')],
    [testPod('r0', { owner: 'rs', nodeName: 'a' }), testPod('r1', { owner: 'rs', nodeName: 'a' }), testPod('r2', { owner: 'rs', nodeName: 'b' }), testPod('x', { owner: 'other', nodeName: 'c' })],
  );
  assert.deepEqual(scores(ownerSpread, testPod('r3', { owner: 'rs' }), s), { a: 0, b: 50, c: 100 });
  assert.equal(scores(ownerSpread, testPod('n0', { owner: 'new' }), s), undefined, 'no replica placed yet: no preference');
});

test('bare pods group by namespace and labels', () => {
  const s = testSnapshot([testNode('a'), testNode('b')], [testPod('w0', { labels: { app: 'w' }, nodeName: 'a' }), testPod('v0', { labels: { app: 'v' }, nodeName: 'b' })]);
  assert.deepEqual(scores(ownerSpread, testPod('w1', { labels: { app: 'w' } }), s), { a: 0, b: 100 });
});

test('with zones, two thirds of the score spread over zones', () => {
  const s = testSnapshot(
    [testNode('a1', { labels: { [ZONE_LABEL]: 'a' } }), testNode('a2', { labels: { [ZONE_LABEL]: 'a' } }), testNode('b1', { labels: { [ZONE_LABEL]: 'b' } })],
    [testPod('r0', { owner: 'rs', nodeName: 'a1' }), testPod('r1', { owner: 'rs', nodeName: 'b1' }), testPod('r2', { owner: 'rs', nodeName: 'b1' })],
  );
  // nodes: a1 1, a2 0, b1 2 (max 2); zones: a 1, b 2 (max 2).
  assert.deepEqual(scores(ownerSpread, testPod('r3', { owner: 'rs' }), s), { a1: Math.round(50 / 3 + 100 / 3), a2: Math.round(100 / 3 + 100 / 3), b1: 0 });
});
