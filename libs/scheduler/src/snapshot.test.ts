import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZONE_LABEL } from './node-info.ts';
import { Snapshot } from './snapshot.ts';
import { testNode, testPod } from './test-objects.ts';

test('placed pods count on their node; removing them gives back exactly what they took', () => {
  const s = new Snapshot();
  s.setNode(testNode('a', { cpu: '2', memory: '2Gi', pods: '10' }));
  const info = s.nodeInfo('a')!;
  assert.deepEqual([info.allocatableCpuMilli, info.allocatableMemoryBytes, info.allocatablePods], [2000, 2 * 1024 ** 3, 10]);
  s.addPod(testPod('p', { cpu: '500m', memory: '1Gi', nodeName: 'a', owner: 'rs' }));
  s.assumePod(testPod('q', { cpu: '250m', owner: 'rs' }), 'a');
  assert.deepEqual([info.requestedCpuMilli, info.requestedMemoryBytes, info.podCount], [750, 1024 ** 3, 2]);
  assert.equal(s.ownerCounts('owner:uid-rs')?.byNode.get('a'), 2);
  assert.equal(s.pod('default/q')?.assumed, true);
  s.addPod(testPod('q', { cpu: '250m', owner: 'rs', nodeName: 'a' }));
  assert.equal(s.pod('default/q')?.assumed, false, 'seen back through the watch');
  assert.equal(info.requestedCpuMilli, 750, 'confirming counts nothing twice');
  s.removePod('default/p');
  s.removePod('default/q');
  assert.deepEqual([info.requestedCpuMilli, info.requestedMemoryBytes, info.podCount, info.scoreCpuMilli, info.scoreMemoryBytes], [0, 0, 0, 0, 0]);
  assert.equal(s.ownerCounts('owner:uid-rs'), undefined);
});

test('the selector index follows pods added after it was built, and leaves out terminating ones', () => {
  const s = new Snapshot();
  s.setNode(testNode('a'));
  s.setNode(testNode('b'));
  s.addPod(testPod('w0', { labels: { app: 'web' }, nodeName: 'a' }));
  const byNode = s.matchingPodsByNode(['default'], { matchLabels: { app: 'web' } });
  assert.deepEqual([...byNode], [['a', 1]]);
  s.addPod(testPod('w1', { labels: { app: 'web' }, nodeName: 'b' }));
  s.addPod(testPod('w2', { labels: { app: 'web' }, nodeName: 'b', namespace: 'other' }));
  const leaving = testPod('w0', { labels: { app: 'web' }, nodeName: 'a' });
  leaving.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
  s.addPod(leaving);
  assert.deepEqual([...s.matchingPodsByNode(['default'], { matchLabels: { app: 'web' } })], [['b', 1]]);
  assert.equal(s.nodeInfo('a')?.podCount, 1, 'a terminating pod still holds its place');
});

test('a removed Node keeps its pods counted until they go; a zone change moves replica counts', () => {
  const s = new Snapshot();
  s.setNode(testNode('a', { labels: { [ZONE_LABEL]: 'z1' } }));
  s.addPod(testPod('r0', { owner: 'rs', nodeName: 'a' }));
  assert.equal(s.ownerCounts('owner:uid-rs')?.byZone.get('z1'), 1);
  s.setNode(testNode('a', { labels: { [ZONE_LABEL]: 'z2' } }));
  assert.deepEqual([...s.ownerCounts('owner:uid-rs')!.byZone], [['z2', 1]]);
  s.removeNode('a');
  assert.equal(s.nodes().length, 0);
  assert.equal(s.nodeInfo('a')?.podCount, 1);
  assert.deepEqual([...s.ownerCounts('owner:uid-rs')!.byZone], []);
  s.removePod('default/r0');
  assert.equal(s.nodeInfo('a'), undefined);
});
