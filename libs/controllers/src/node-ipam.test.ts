// node-ipam.test.ts: pod CIDRs for new Nodes: distinct, never a taken one, oldest Node first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '@tugboat/api';
import { assignPodCidrs, unassignable } from '@tugboat/controllers';

function node(name: string, created: string, podCIDR?: string, deleting = false): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, creationTimestamp: created, ...(deleting ? { deletionTimestamp: created } : {}) },
    spec: podCIDR === undefined ? {} : { podCIDR },
  };
}

test('Nodes without a pod CIDR get the lowest free ones, oldest first, ties by name', () => {
  const nodes = [
    node('c', '2025-01-01T00:00:02Z'),
    node('taken-0', '2025-01-01T00:00:00Z', '10.244.0.0/24'),
    node('b', '2025-01-01T00:00:01Z'),
    node('a', '2025-01-01T00:00:01Z'),
    node('taken-2', '2025-01-01T00:00:00Z', '10.244.2.0/24'),
  ];
  assert.deepEqual(
    [...assignPodCidrs(nodes)],
    [
      ['a', '10.244.1.0/24'],
      ['b', '10.244.3.0/24'],
      ['c', '10.244.4.0/24'],
    ],
  );
  assert.deepEqual([...assignPodCidrs([...nodes].reverse())], [...assignPodCidrs(nodes)], 'the input order does not matter');
});

test('fractional timestamps order by time, not by text', () => {
  const nodes = [node('late', '2025-01-01T00:00:00.5Z'), node('early', '2025-01-01T00:00:00Z')];
  assert.deepEqual([...assignPodCidrs(nodes).keys()], ['early', 'late']);
});

test('nothing to do when every Node has one; Nodes being deleted get none', () => {
  assert.equal(assignPodCidrs([node('a', '2025-01-01T00:00:00Z', '10.244.9.0/24')]).size, 0);
  assert.equal(assignPodCidrs([node('gone', '2025-01-01T00:00:00Z', undefined, true)]).size, 0);
  assert.equal(assignPodCidrs([]).size, 0);
});

test('when the pod network is full the rest wait, and unassignable names them', () => {
  const full = Array.from({ length: 255 }, (_, i) => node(`n${i}`, '2025-01-01T00:00:00Z', `10.244.${i}.0/24`));
  const nodes = [...full, node('x', '2025-01-01T00:00:01Z'), node('y', '2025-01-01T00:00:02Z')];
  const got = assignPodCidrs(nodes);
  assert.deepEqual([...got], [['x', '10.244.255.0/24']]);
  assert.deepEqual(unassignable(nodes, got), ['y']);
});
