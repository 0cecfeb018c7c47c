import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeSelectorRequirement } from '@tugboat/api';
import { testNode, testPod, testSnapshot } from '../test-objects.ts';
import { verdicts } from './filters-helpers.ts';
import { NODE_AFFINITY_MISMATCH, nodeAffinity, requirementMatches } from './node-affinity.ts';

const M = NODE_AFFINITY_MISMATCH;

test('requirement operators', () => {
  const r = (operator: NodeSelectorRequirement['operator'], values?: string[]): NodeSelectorRequirement => ({ key: 'k', operator, ...(values ? { values } : {}) });
  assert.equal(requirementMatches(r('In', ['a', 'b']), 'b'), true);
  assert.equal(requirementMatches(r('In', ['a']), undefined), false);
  assert.equal(requirementMatches(r('NotIn', ['a']), undefined), true);
  assert.equal(requirementMatches(r('NotIn', ['a']), 'a'), false);
  assert.equal(requirementMatches(r('Exists'), ''), true);
  assert.equal(requirementMatches(r('DoesNotExist'), 'x'), false);
  assert.equal(requirementMatches(r('Gt', ['5']), '10'), true, 'compared as integers, not text');
  assert.equal(requirementMatches(r('Lt', ['5']), '10'), false);
  assert.equal(requirementMatches(r('Gt', ['5']), 'ten'), false, 'not an integer');
});

test('nodeSelector and required node affinity both hold; any term of the affinity will do', () => {
  const s = testSnapshot([
    testNode('a', { labels: { disk: 'ssd', gen: '3' } }),
    testNode('b', { labels: { disk: 'ssd', gen: '1' } }),
    testNode('c', { labels: { disk: 'hdd', gen: '9' } }),
  ]);
  assert.deepEqual(verdicts(nodeAffinity, testPod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), s), { a: '', b: '', c: M });
  const affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'gen', operator: 'Gt' as const, values: ['2'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In' as const, values: ['b'] }] }],
      },
    },
  };
  assert.deepEqual(verdicts(nodeAffinity, testPod('p', { spec: { affinity: affinity } }), s), { a: '', b: '', c: '' });
  assert.deepEqual(verdicts(nodeAffinity, testPod('p', { spec: { affinity: affinity, nodeSelector: { disk: 'ssd' } } }), s), { a: '', b: '', c: M });
});

test('empty terms match no node; a pod without selector or affinity is not checked', () => {
  const s = testSnapshot([testNode('a')]);
  const none = testPod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } } } });
  assert.deepEqual(verdicts(nodeAffinity, none, s), { a: M });
  assert.equal(nodeAffinity.prepare({ pod: testPod('q') } as never, s), undefined);
});
