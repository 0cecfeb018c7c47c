// scheduler.test.ts: the scheduler inside a real tug-control (one member, as a process). Three
// Nodes made by the test (Ready, heartbeating) take 30 pods, bound and spread evenly; a pod too
// big for any of them stays Pending with the reason in its PodScheduled condition and a
// FailedScheduling Event, and is bound as soon as a Node big enough joins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, NodeStatus, Pod } from '@tugboat/api';
import { TugCluster } from '../support/tug-cluster.ts';
import { runPool } from './api-helpers.ts';

function nodeStatus(memory: string): NodeStatus {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    allocatable: { cpu: '4', memory, pods: '110' },
    capacity: { cpu: '4', memory, pods: '110' },
    conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: now, lastTransitionTime: now }],
  };
}

function node(name: string, memory: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: nodeStatus(memory) };
}

function pod(name: string, memory: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name.startsWith('spread') ? 'spread' : name } },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory } } }] },
  };
}

test('scheduler: pods bound and spread over Ready Nodes; one too big waits with a reason until a Node fits it', { timeout: 60_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 1 });
  t.after(() => cluster.stop());
  const client = cluster.client();
  const memory = new Map([
    ['sched-a', '4Gi'],
    ['sched-b', '4Gi'],
    ['sched-c', '4Gi'],
  ]);
  for (const [name, mem] of memory) await client.nodes.create(node(name, mem));
  // Status heartbeats, as agents without a Lease send them, so that the node-lifecycle controller keeps the Nodes Ready.
  const beat = setInterval(() => {
    for (const [name, mem] of memory) void client.nodes.updateStatus({ ...node(name, mem), status: nodeStatus(mem) }).catch(() => {});
  }, 1_000);
  t.after(() => clearInterval(beat));

  await runPool(30, 10, async (i) => {
    await client.pods.create(pod(`spread-${i}`, '64Mi'));
  });
  let pods: Pod[] = [];
  for (let i = 0; i < 100 && pods.filter((p) => p.spec.nodeName).length < 30; i++) {
    pods = (await client.pods.list({ namespace: 'default', labelSelector: 'app=spread' })).items;
    await new Promise((r) => setTimeout(r, 50));
  }
  const perNode = new Map<string, number>();
  for (const p of pods) perNode.set(p.spec.nodeName ?? '(none)', (perNode.get(p.spec.nodeName ?? '(none)') ?? 0) + 1);
  assert.deepEqual([...perNode.keys()].sort(), ['sched-a', 'sched-b', 'sched-c'], `placement: ${JSON.stringify([...perNode])}`);
  assert.ok(Math.max(...perNode.values()) - Math.min(...perNode.values()) <= 1, `spread evenly: ${JSON.stringify([...perNode])}`);

  await client.pods.create(pod('big', '6Gi'));
  const expected = '0/3 nodes are available: 3 Insufficient memory.';
  let big: Pod | undefined;
  for (let i = 0; i < 100; i++) {
    big = await client.pods.get('default', 'big');
    if (big.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.message === expected)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const cond = big?.status?.conditions?.find((c) => c.type === 'PodScheduled');
  assert.deepEqual({ status: cond?.status, reason: cond?.reason, message: cond?.message }, { status: 'False', reason: 'Unschedulable', message: expected });
  assert.equal(big?.spec.nodeName, undefined);
  assert.equal(big?.status?.phase, 'Pending');
  const events = (await client.events.list({ namespace: 'default' })).items.filter((e) => e.involvedObject.name === 'big');
  assert.ok(
    events.some((e) => e.type === 'Warning' && e.reason === 'FailedScheduling' && e.message === expected),
    `FailedScheduling event: ${JSON.stringify(events.map((e) => [e.reason, e.message]))}`,
  );

  memory.set('sched-big', '16Gi');
  await client.nodes.create(node('sched-big', '16Gi'));
  for (let i = 0; i < 100 && big?.spec.nodeName === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50));
    big = await client.pods.get('default', 'big');
  }
  assert.equal(big?.spec.nodeName, 'sched-big', 'bound once a Node big enough joined');
});
