// services-controllers.test.ts: the Endpoints and ServiceLB controllers as tug-control runs them
// (one member, as a process), with no agent: the test plays the agents, writing pod IPs and
// Ready conditions and Node conditions through status updates.
//  - Endpoints list the ready and not-ready pods with the named target port resolved, within
//    milliseconds of the pod status change that caused it (the time is printed);
//  - a pod marked for deletion leaves the ready addresses while it still exists;
//  - a pod whose labels stop matching leaves; a Service deleted takes its Endpoints along;
//    the hand-made Endpoints of a Service without a selector are left alone;
//  - a LoadBalancer Service lists every Ready node's address, and loses a node that turns NotReady.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Node, Pod } from '@tugboat/api';
import { isConflict, isNotFound } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';
import { TugCluster } from '../support/tug-cluster.ts';

const NS = 'default';

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function webPod(name: string, node: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'web' } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 30,
      containers: [{ name: 'web', image: 'tugboat.local/web:latest', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}

async function setPodStatus(client: TugClient, name: string, ip: string, ready: boolean): Promise<void> {
  const pod = await client.pods.get(NS, name);
  const status: Pod['status'] = { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now() }] };
  await client.pods.updateStatus({ ...structuredClone(pod), status });
}

function node(name: string, ip: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } };
}

/** setNodeReady writes a Node's Ready condition, reading it again when the node IPAM loop wrote it meanwhile. */
async function setNodeReady(client: TugClient, name: string, ready: boolean): Promise<void> {
  for (;;) {
    const n = await client.nodes.get(name);
    try {
      await client.nodes.updateStatus({ ...structuredClone(n), status: { ...structuredClone(n.status ?? {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastHeartbeatTime: now() }] } });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

/** until polls `check` every 5 ms until it returns a value; returns it and how long it took. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, ms: performance.now() - t0 };
    assert.ok(performance.now() - t0 < timeoutMs, `${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function readyIPs(ep: Endpoints | undefined): string[] {
  return (ep?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort();
}
function notReadyIPs(ep: Endpoints | undefined): string[] {
  return (ep?.subsets ?? []).flatMap((s) => (s.notReadyAddresses ?? []).map((a) => a.ip)).sort();
}

async function endpointsOf(client: TugClient, name: string): Promise<Endpoints | undefined> {
  try {
    return await client.endpoints.get(NS, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

test('Endpoints and ServiceLB controllers in tug-control', { timeout: 60_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 1 });
  t.after(() => cluster.stop());
  const client = cluster.client();
  // The node lifecycle controller would mark agent-less Nodes Unknown after its grace period;
  // the test writes their conditions itself, each time it cares.
  for (const [name, ip] of [['node-1', '172.29.0.11'], ['node-2', '172.29.0.12']] as const) {
    await client.nodes.create(node(name, ip));
    await setNodeReady(client, name, true);
  }

  await t.test('ready and not-ready pods, with the named target port, within milliseconds of the status change', async (tt) => {
    await client.services.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    for (const [name, n] of [['web-1', 'node-1'], ['web-2', 'node-2'], ['web-3', 'node-1']] as const) await client.pods.create(webPod(name, n));
    await setPodStatus(client, 'web-1', '10.244.1.2', true);
    await setPodStatus(client, 'web-2', '10.244.2.2', true);
    const t0 = performance.now();
    await setPodStatus(client, 'web-3', '10.244.1.3', false);
    const { value: ep } = await until('web-3 in notReadyAddresses', async () => {
      const e = await endpointsOf(client, 'web');
      return notReadyIPs(e).includes('10.244.1.3') ? e : undefined;
    });
    const latency = performance.now() - t0;
    assert.deepEqual(readyIPs(ep), ['10.244.1.2', '10.244.2.2']);
    assert.deepEqual(ep.subsets?.[0]?.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    await setPodStatus(client, 'web-3', '10.244.1.3', true);
    await until('web-3 ready', async () => (readyIPs(await endpointsOf(client, 'web')).includes('10.244.1.3') ? true : undefined));
    const t1 = performance.now();
    await setPodStatus(client, 'web-3', '10.244.1.3', false);
    await until('web-3 not ready again', async () => (notReadyIPs(await endpointsOf(client, 'web')).includes('10.244.1.3') ? true : undefined));
    tt.diagnostic(`pod status written -> Endpoints changed: ${latency.toFixed(1)} ms and ${(performance.now() - t1).toFixed(1)} ms (as seen by polling every 5 ms)`);
    assert.ok(latency < 2_000, `Endpoints changed ${latency.toFixed(0)} ms after the pod status`);
  });

  await t.test('a pod marked for deletion leaves the ready set while it still exists; one whose labels change leaves too', async () => {
    await client.pods.delete(NS, 'web-1');
    const marked = await client.pods.get(NS, 'web-1');
    assert.ok(marked.metadata.deletionTimestamp !== undefined, 'a bound pod is deleted gracefully');
    await until('web-1 out of the Endpoints', async () => {
      const e = await endpointsOf(client, 'web');
      return !readyIPs(e).includes('10.244.1.2') && !notReadyIPs(e).includes('10.244.1.2') ? true : undefined;
    });
    const web2 = await client.pods.get(NS, 'web-2');
    await client.pods.update({ ...structuredClone(web2), metadata: { ...structuredClone(web2.metadata), labels: { app: 'other' } } });
    await until('web-2 out of the Endpoints', async () => (!readyIPs(await endpointsOf(client, 'web')).includes('10.244.2.2') ? true : undefined));
  });

  await t.test('a deleted Service takes its Endpoints along; hand-made Endpoints of a selector-less Service stay', async () => {
    await client.services.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'external', namespace: NS }, spec: { ports: [{ port: 5432 }] } });
    const manual: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'external', namespace: NS }, subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432 }] }] };
    await client.endpoints.create(manual);
    await client.services.delete(NS, 'web');
    await until('the Endpoints of web gone', async () => ((await endpointsOf(client, 'web')) === undefined ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(readyIPs(await endpointsOf(client, 'external')), ['192.0.2.10']);
  });

  await t.test('a LoadBalancer Service lists the Ready nodes and loses one that turns NotReady', async () => {
    await client.services.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb', namespace: NS }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const ingress = async (): Promise<string> => ((await client.services.get(NS, 'lb')).status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',');
    await until('both nodes listed', async () => ((await ingress()) === '172.29.0.11,172.29.0.12' ? true : undefined));
    await setNodeReady(client, 'node-2', false);
    await until('node-2 no longer listed', async () => ((await ingress()) === '172.29.0.11' ? true : undefined));
    const lb = await client.services.get(NS, 'lb');
    await client.services.update({ ...structuredClone(lb), spec: { ...structuredClone(lb.spec), type: 'ClusterIP', ports: lb.spec.ports!.map(({ nodePort: _n, ...p }) => p) } });
    await until('status cleared', async () => ((await client.services.get(NS, 'lb')).status?.loadBalancer === undefined ? true : undefined));
  });
});
