import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Taint } from '@tugboat/api';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { taintToleration, tolerates } from './taints.ts';

const unreachable: Taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
const gpu: Taint = { key: 'gpu', value: 'true', effect: 'NoSchedule' };
const soft: Taint = { key: 'spot', value: 'yes', effect: 'PreferNoSchedule' };

test('toleration matching: key, value, operator, effect', () => {
  assert.equal(tolerates({ key: 'gpu', value: 'true' }, gpu), true);
  assert.equal(tolerates({ key: 'gpu', operator: 'Equal', value: 'false' }, gpu), false);
  assert.equal(tolerates({ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }, gpu), true);
  assert.equal(tolerates({ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }, gpu), false);
  assert.equal(tolerates({ operator: 'Exists' }, unreachable), true, 'no key with Exists tolerates everything');
  assert.equal(tolerates({ key: '', value: '' }, unreachable), false);
});

test('NoSchedule and NoExecute taints must be tolerated; PreferNoSchedule does not filter', () => {
  const s = testSnapshot([testNode('plain'), testNode('gone', { spec: { taints: [unreachable] } }), testNode('gpu', { spec: { taints: [gpu, soft] } }), testNode('spot', { spec: { taints: [soft] } })]);
  assert.deepEqual(verdicts(taintToleration, testPod('p'), s), {
    plain: '',
    gone: 'node(s) had untolerated taint {node.kubernetes.io/unreachable: }',
    gpu: 'node(s) had untolerated taint {gpu: true}',
    spot: '',
  });
  const tolerant = testPod('t', { spec: { tolerations: [{ key: 'gpu', operator: 'Exists' }] } });
  assert.deepEqual(verdicts(taintToleration, tolerant, s).gpu, '');
});
