import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { nodeReady } from './node-ready.ts';
import { nodeUnschedulable } from './node-unschedulable.ts';

test('only nodes whose Ready condition is True take pods', () => {
  const unknown = testNode('unknown');
  unknown.status!.conditions = [{ type: 'Ready', status: 'Unknown' }];
  const silent = testNode('silent');
  delete silent.status!.conditions;
  const s = testSnapshot([testNode('up'), testNode('down', { ready: false }), unknown, silent]);
  const no = 'node(s) were not ready';
  assert.deepEqual(verdicts(nodeReady, testPod('p'), s), { up: '', down: no, unknown: no, silent: no });
});

test('a cordoned node takes only pods that tolerate the unschedulable taint', () => {
  const s = testSnapshot([testNode('open'), testNode('cordoned', { spec: { unschedulable: true } })]);
  assert.deepEqual(verdicts(nodeUnschedulable, testPod('p'), s), { open: '', cordoned: 'node(s) were unschedulable' });
  const daemon = testPod('d', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] } });
  assert.deepEqual(verdicts(nodeUnschedulable, daemon, s), { open: '', cordoned: '' });
});
