import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Taint } from '@tugboat/api';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { scores } from './scores-helpers.ts';
import { preferNoScheduleTaints } from './taints.ts';

const spot: Taint = { key: 'spot', effect: 'PreferNoSchedule' };
const old: Taint = { key: 'old', effect: 'PreferNoSchedule' };

test('fewer untolerated PreferNoSchedule taints score higher', () => {
  const s = testSnapshot([testNode('clean'), testNode('spot', { spec: { taints: [spot] } }), testNode('both', { spec: { taints: [spot, old] } })]);
  assert.deepEqual(scores(preferNoScheduleTaints, testPod('p'), s), { clean: 100, spot: 50, both: 0 });
  const tolerant = testPod('t', { spec: { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'PreferNoSchedule' }] } });
  assert.deepEqual(scores(preferNoScheduleTaints, tolerant, s), { clean: 100, spot: 100, both: 0 });
});

test('no preference when no node has such a taint', () => {
  assert.equal(scores(preferNoScheduleTaints, testPod('p'), testSnapshot([testNode('a')])), undefined);
});
