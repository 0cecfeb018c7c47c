// hollow-nodes.test.ts: simulated nodes against one real tug-control process: registration,
// heartbeats (Lease renewals; the Nodes are not written again), Running statuses for the pods
// bound to them (alone and in transactions), deletion of terminating pods, and nothing done to
// pods of other nodes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Lease, Pod } from '@tugboat/api';
import type { TugClient } from '@tugboat/client';
import { HOLLOW_LABEL, HollowNodes, hollowIp, podAction, runningStatus } from './hollow-nodes.ts';
import { TugCluster } from './tug-cluster.ts';

function pod(name: string, nodeName: string, containers = ['app']): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName,
      containers: containers.map((c) => ({ name: c, image: `example/${c}:1`, resources: { requests: { cpu: '10m', memory: '16Mi' } } })),
    },
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > giveUp) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('hollowIp counts through 10.N.0.0/16 without .0 or .255', () => {
  assert.equal(hollowIp(255, 0), '10.255.0.1');
  assert.equal(hollowIp(255, 253), '10.255.0.254');
  assert.equal(hollowIp(255, 254), '10.255.1.1');
  assert.equal(hollowIp(254, 256 * 254), '10.254.0.1', 'wraps after 65,024');
});

test('podAction: run a bound pod once, delete a terminating one, leave others alone', () => {
  const hollow = (n: string): boolean => n.startsWith('h-');
  const p = pod('a', 'h-1');
  assert.equal(podAction(p, hollow), 'run');
  assert.equal(podAction({ ...p, status: { phase: 'Running' } }, hollow), 'none');
  assert.equal(podAction({ ...p, metadata: { ...p.metadata, deletionTimestamp: '2025-01-01T00:00:00Z' } }, hollow), 'delete');
  assert.equal(podAction(pod('b', 'real-1'), hollow), 'none');
  assert.equal(podAction({ ...p, spec: { ...p.spec, nodeName: '' } }, hollow), 'none');
  assert.equal(podAction(undefined, hollow), 'none');
});

test('runningStatus: Running and ready, every container with a hollow container id; a pod IP is kept', () => {
  const p = { ...pod('a', 'h-1', ['app', 'side']), metadata: { name: 'a', namespace: 'default', uid: 'u1' } };
  const s = runningStatus(p, '10.255.0.2', '10.254.0.9', Date.parse('2025-01-01T00:00:00.700Z'));
  assert.equal(s.phase, 'Running');
  assert.deepEqual(
    s.conditions?.map((c) => [c.type, c.status]),
    [
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
      ['PodScheduled', 'True'],
    ],
  );
  assert.equal(s.podIP, '10.254.0.9');
  assert.equal(s.hostIP, '10.255.0.2');
  assert.equal(s.startTime, '2025-01-01T00:00:00Z');
  assert.deepEqual(
    s.containerStatuses?.map((c) => [c.name, c.containerID, c.image, c.ready, c.state?.running !== undefined]),
    [
      ['app', 'hollow://u1/app', 'example/app:1', true, true],
      ['side', 'hollow://u1/side', 'example/side:1', true, true],
    ],
  );
  assert.equal(runningStatus({ ...p, status: { podIP: '10.254.3.3' } }, 'x', '10.254.0.10', 0).podIP, '10.254.3.3');
});

let cluster: TugCluster;
let client: TugClient;
let hollow: HollowNodes;

before(async () => {
  cluster = await TugCluster.start({ size: 1, dirPrefix: 'tug-hollow-test-', logLevel: 'warn' });
  client = cluster.client();
  hollow = new HollowNodes({ client, count: 5, prefix: 'h-', cpu: '4', memory: '8Gi', pods: 50, heartbeatSeconds: 1, log: pino({ level: 'silent' }) });
  await hollow.start();
});

after(async () => {
  await hollow?.stop();
  await cluster?.stop();
});

test('start registers Ready Nodes labelled hollow, with capacity and an InternalIP, and no agent endpoint', async () => {
  const nodes = (await client.nodes.list({ labelSelector: `${HOLLOW_LABEL}=true` })).items;
  assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['h-0', 'h-1', 'h-2', 'h-3', 'h-4']);
  const n = nodes.find((x) => x.metadata.name === 'h-3')!;
  assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], 'h-3');
  assert.deepEqual(n.status?.capacity, { cpu: '4', memory: '8Gi', pods: '50' });
  assert.deepEqual(n.status?.allocatable, n.status?.capacity);
  assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  assert.deepEqual(n.status?.addresses?.find((a) => a.type === 'InternalIP'), { type: 'InternalIP', address: '10.255.0.4' });
  assert.equal(n.status?.daemonEndpoints, undefined);
});

test('heartbeats renew each Node\'s Lease; the Node itself is not written again', async () => {
  const beatOf = async (): Promise<string | undefined> => (await client.nodes.get('h-1')).status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
  const registered = await beatOf();
  const renewed = async (): Promise<string> => (await client.leases.get('tug-node-lease', 'h-1')).spec?.renewTime ?? '';
  const first = await renewed();
  assert.match(first, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'created at registration, to the millisecond');
  await waitFor('a renewal of h-1', async () => ((await renewed()) > first ? true : undefined));
  const lease: Lease = await client.leases.get('tug-node-lease', 'h-1');
  assert.deepEqual({ holder: lease.spec?.holderIdentity, duration: lease.spec?.leaseDurationSeconds }, { holder: 'h-1', duration: 4 });
  // Every one of the 5 Nodes beats once a second: a full round follows within a period or two.
  await waitFor('a heartbeat of every hollow Node', async () => (hollow.stats.heartbeats >= 5 ? true : undefined));
  assert.equal(await beatOf(), registered, 'the Node\'s status is not written by a heartbeat');
  assert.ok(hollow.stats.maxHeartbeatGapMs > 0, 'the longest gap between two renewals of a Node is measured');
});

test('pods bound to hollow Nodes become Running, many at once in transactions; pods of other Nodes are left alone', async () => {
  await client.pods.create(pod('one', 'h-2', ['app', 'side']));
  await client.pods.create(pod('elsewhere', 'real-node'));
  const names = Array.from({ length: 40 }, (_, i) => `many-${i}`);
  await Promise.all(names.map((name, i) => client.pods.create(pod(name, `h-${i % 5}`))));
  const one = await waitFor('pod one Running', async () => {
    const p = await client.pods.get('default', 'one');
    return p.status?.phase === 'Running' ? p : undefined;
  });
  assert.equal(one.status?.hostIP, '10.255.0.3');
  assert.match(one.status?.podIP ?? '', /^10\.254\.\d+\.\d+$/);
  assert.deepEqual(one.status?.containerStatuses?.map((c) => c.containerID), [`hollow://${one.metadata.uid}/app`, `hollow://${one.metadata.uid}/side`]);
  assert.equal(one.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  await waitFor('40 pods Running', async () => {
    const running = (await client.pods.list()).items.filter((p) => p.metadata.name!.startsWith('many-') && p.status?.phase === 'Running');
    return running.length === names.length ? true : undefined;
  });
  assert.ok(hollow.stats.transactions > 0, 'some statuses went in transactions');
  const ips = (await client.pods.list()).items.map((p) => p.status?.podIP).filter((ip) => ip !== undefined);
  assert.equal(new Set(ips).size, ips.length, 'pod IPs are distinct');
  assert.equal((await client.pods.get('default', 'elsewhere')).status?.phase, undefined);
});

test('deleted pods of hollow Nodes are gone for good; others are not touched', async () => {
  await client.pods.create(pod('doomed', 'h-4'));
  await waitFor('pod doomed Running', async () => ((await client.pods.get('default', 'doomed')).status?.phase === 'Running' ? true : undefined));
  const deletedBefore = hollow.stats.podsDeleted;
  const answer = await client.pods.delete('default', 'doomed');
  await waitFor('pod doomed gone', async () => ((await client.pods.list()).items.some((p) => p.metadata.name === 'doomed') ? undefined : true));
  if (answer?.metadata.deletionTimestamp !== undefined) assert.equal(hollow.stats.podsDeleted, deletedBefore + 1, 'marked for graceful deletion: the hollow node removed it');
  assert.equal((await client.pods.get('default', 'elsewhere')).metadata.deletionTimestamp, undefined);
});
