import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unschedulableMessage } from './message.ts';

test('reasons are counted, most frequent first, then by text', () => {
  const reasons = new Map([
    ['node(s) were unschedulable', 1],
    ['Insufficient memory', 2],
    ['Insufficient cpu', 1],
  ]);
  assert.equal(unschedulableMessage(3, reasons), '0/3 nodes are available: 2 Insufficient memory, 1 Insufficient cpu, 1 node(s) were unschedulable.');
});

test('no nodes at all', () => {
  assert.equal(unschedulableMessage(0, new Map()), '0/0 nodes are available: no nodes available to schedule pods.');
});
