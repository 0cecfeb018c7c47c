// node-lifecycle.test.ts: the node lifecycle controller inside a real tug-control process
// (--node-monitor-grace 2 --default-eviction-seconds 1). The test plays the agents: a Node that
// stops heartbeating becomes Ready=Unknown and tainted unreachable, and its pods are deleted
// after the eviction time, except one tolerating the taint forever; a Node heartbeating
// Ready=False is tainted not-ready and its pod evicted gracefully; heartbeating Ready=True
// again removes the taints. 'healthy', and 'silent' once back, beat as today's agents do (their
// Lease in tug-node-lease, the status written once); 'sick' as an older agent (its status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lease, Node, NodeCondition, Pod, Toleration } from '@tugboat/api';
import { isNotFound } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';
import { TugCluster } from '../support/tug-cluster.ts';

const GRACE_S = 2;
const EVICTION_S = 1;

function ready(status: NodeCondition['status'], at: Date): NodeCondition {
  const t = at.toISOString();
  return { type: 'Ready', status, reason: status === 'True' ? 'AgentReady' : 'ContainerRuntimeNotReady', lastHeartbeatTime: t, lastTransitionTime: t };
}

function node(name: string, status: NodeCondition['status']): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { conditions: [ready(status, new Date())] } };
}

/** renewLease beats as an agent does: the node's Lease renewed now, unconditionally, created when missing. */
async function renewLease(client: TugClient, name: string): Promise<void> {
  const lease: Lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'tug-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 2, renewTime: new Date().toISOString() },
  };
  try {
    await client.leases.update(lease);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.leases.create(lease);
  }
}

function pod(name: string, nodeName: string, tolerations?: Toleration[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], ...(tolerations === undefined ? {} : { tolerations }) },
  };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > giveUp) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** evicted: the pod is gone, or marked for graceful deletion (no agent is there to finish it). */
async function evicted(client: TugClient, name: string): Promise<true | undefined> {
  const { items } = await client.pods.list({ namespace: 'default' });
  const p = items.find((x) => x.metadata.name === name);
  return p === undefined || p.metadata.deletionTimestamp !== undefined ? true : undefined;
}

function taintsOf(n: Node): string[] {
  return (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
}

test('node lifecycle in tug-control: silent and not-ready Nodes are tainted and their pods evicted', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 1, extraArgs: ['--node-monitor-grace', String(GRACE_S), '--default-eviction-seconds', String(EVICTION_S)] });
  t.after(() => cluster.stop());
  const client = cluster.client({ retryBudgetMs: 10_000 });

  // 'sick' heartbeats every 500 ms, as an older agent would (its status), with whatever status the test says.
  let sickStatus: NodeCondition['status'] = 'False';
  const beat = setInterval(() => {
    client.nodes.updateStatus({ ...node('sick', sickStatus) }).catch(() => undefined);
  }, 500);
  t.after(() => clearInterval(beat));
  // 'healthy' heartbeats (its Lease) while Ready: with no Ready Node at all, the controller holds evictions.
  await client.nodes.create(node('healthy', 'True'));
  const beatHealthy = setInterval(() => {
    renewLease(client, 'healthy').catch(() => undefined);
  }, 500);
  t.after(() => clearInterval(beatHealthy));

  const silentCreated = Date.now();
  await client.nodes.create(node('silent', 'True'));
  await client.nodes.create(node('sick', 'False'));
  const forever: Toleration = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' };
  await client.pods.create(pod('doomed', 'silent'));
  await client.pods.create(pod('stays', 'silent', [forever]));
  await client.pods.create(pod('sick-pod', 'sick'));

  const silent = await waitFor('silent to be tainted unreachable', 10_000, async () => {
    const n = await client.nodes.get('silent');
    return taintsOf(n).length === 2 ? n : undefined;
  });
  const taintedAfterMs = Date.now() - silentCreated;
  assert.ok(taintedAfterMs >= GRACE_S * 1_000 - 100, `tainted ${taintedAfterMs} ms after the last heartbeat, not before the grace period`);
  assert.deepEqual(taintsOf(silent), ['node.kubernetes.io/unreachable:NoSchedule', 'node.kubernetes.io/unreachable:NoExecute']);
  const cond = silent.status?.conditions?.find((c) => c.type === 'Ready');
  assert.equal(cond?.status, 'Unknown');
  assert.equal(cond?.message, 'tug-agent stopped posting node status');

  const sick = await waitFor('sick to be tainted not-ready', 10_000, async () => {
    const n = await client.nodes.get('sick');
    return taintsOf(n).length === 2 ? n : undefined;
  });
  assert.deepEqual(taintsOf(sick), ['node.kubernetes.io/not-ready:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute']);
  assert.equal(sick.status?.conditions?.[0]?.status, 'False', 'a heartbeating Node keeps the status its agent reports');

  const taintedAt = Date.parse(silent.spec!.taints![1]!.timeAdded!);
  await waitFor('pod doomed to be deleted', 10_000, async () => ((await client.pods.list({ namespace: 'default' })).items.some((p) => p.metadata.name === 'doomed') ? undefined : true));
  assert.ok(Date.now() - taintedAt >= EVICTION_S * 1_000 - 100, 'doomed stayed for the eviction time');
  await waitFor('pod sick-pod to be evicted', 10_000, () => evicted(client, 'sick-pod'));
  await sleep(1_000);
  const stays = await client.pods.get('default', 'stays');
  assert.equal(stays.metadata.deletionTimestamp, undefined, 'a pod tolerating the taint forever stays');

  const events = (await client.events.list({ namespace: 'default' })).items.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}`);
  for (const want of ['Node/silent NodeNotReady', 'Node/sick NodeNotReady', 'Pod/doomed TaintManagerEviction', 'Pod/sick-pod TaintManagerEviction']) {
    assert.ok(events.includes(want), `event ${want} among ${JSON.stringify(events)}`);
  }

  // Both agents are back: Ready True again, and the taints go. 'silent' writes its status once
  // (Ready differs from what it reports), then renews its Lease.
  sickStatus = 'True';
  await client.nodes.updateStatus(node('silent', 'True'));
  const beatSilent = setInterval(() => {
    renewLease(client, 'silent').catch(() => undefined);
  }, 500);
  t.after(() => clearInterval(beatSilent));
  for (const name of ['silent', 'sick']) {
    await waitFor(`${name} to lose its taints`, 10_000, async () => (taintsOf(await client.nodes.get(name)).length === 0 ? true : undefined));
  }
  await sleep(GRACE_S * 1_000 + 500);
  for (const name of ['silent', 'sick', 'healthy']) {
    const n = await client.nodes.get(name);
    assert.deepEqual({ taints: taintsOf(n), ready: n.status?.conditions?.[0]?.status }, { taints: [], ready: 'True' }, `${name} stays Ready while it heartbeats`);
  }
});
