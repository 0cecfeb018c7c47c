import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podRequests } from './pod-requests.ts';
import { testPod } from './test-objects.ts';

test('requests sum over containers; a limit alone counts as the request; nothing counts 0', () => {
  const pod = testPod('p');
  pod.spec.containers = [
    { name: 'a', image: 'x', resources: { requests: { cpu: '250m', memory: '64Mi' } } },
    { name: 'b', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } },
    { name: 'c', image: 'x', resources: { requests: { cpu: '100m' }, limits: { cpu: '2', memory: '128Mi' } } },
    { name: 'd', image: 'x' },
  ];
  assert.deepEqual(podRequests(pod), { cpuMilli: 250 + 1000 + 100, memoryBytes: (64 + 1024 + 128) * 1024 * 1024 });
});

test('a bad quantity names the pod and the container', () => {
  const pod = testPod('bad', { cpu: 'lots' });
  assert.throws(() => podRequests(pod), /pod default\/bad container c: invalid quantity "lots"/);
});
