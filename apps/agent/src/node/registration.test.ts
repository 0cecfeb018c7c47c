// registration.test.ts: the flag parsers, the Node object and Lease, when a beat writes the
// status, and registration plus heartbeat against the real API over an in-memory store, served
// over gRPC on 127.0.0.1.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Lease, Node, NodeStatus } from '@tugboat/api';
import { validate } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import {
  NodeRegistration,
  buildNode,
  healthOfRuntime,
  kubeArch,
  machineInfo,
  mergeRegistration,
  nodeStatusOf,
  osImageOf,
  parseLabels,
  parseTaints,
  readyCondition,
  statusWriteDue,
  HEARTBEAT_ATTEMPT_MS,
} from './registration.ts';
import type { NodeConfig, NodeHealth } from './registration.ts';

const config: NodeConfig = {
  nodeName: 'node-1',
  nodeIP: '172.30.0.11',
  labels: { 'node-role.kubernetes.io/worker': '', zone: 'a' },
  taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }],
  agentPort: 7402,
  agentVersion: '0.1.0',
  runtimeVersion: '1.6.20',
  machine: { cpus: 2, memoryBytes: 24 * 1024 ** 3, kernelVersion: '6.1.0-18-amd64', osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64' },
};

/** logCapture is a pino logger whose lines the test can read. */
function logCapture(): { log: Logger; lines: () => { level: number; msg: string }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const log: Logger = pino({ level: 'debug' }, stream);
  return { log, lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('flags', () => {
  test('parseLabels reads k=v items and names the bad one', () => {
    assert.deepEqual(parseLabels(' zone=a, example.com/role=db ,empty=,'), { zone: 'a', 'example.com/role': 'db', empty: '' });
    assert.deepEqual(parseLabels(''), {});
    assert.throws(() => parseLabels('zone=a,nokey'), /label "nokey": expected KEY=VALUE/);
    assert.throws(() => parseLabels('Bad Key=1'), /label "Bad Key=1": key "Bad Key" is not a qualified name/);
    assert.throws(() => parseLabels('k=-x'), /label "k=-x": value "-x" is not a label value/);
    assert.throws(() => parseLabels('k=1,k=2'), /label "k=2": key "k" is given twice/);
  });

  test('parseTaints reads key=value:Effect and key:Effect and names the bad one', () => {
    assert.deepEqual(parseTaints('dedicated=db:NoSchedule,gpu:PreferNoSchedule'), [
      { key: 'dedicated', value: 'db', effect: 'NoSchedule' },
      { key: 'gpu', effect: 'PreferNoSchedule' },
    ]);
    assert.throws(() => parseTaints('gpu'), /taint "gpu": expected KEY=VALUE:EFFECT or KEY:EFFECT/);
    assert.throws(() => parseTaints('a=b:Sometimes'), /taint "a=b:Sometimes": effect "Sometimes" is not one of NoSchedule, PreferNoSchedule, NoExecute/);
    assert.throws(() => parseTaints('=b:NoSchedule'), /taint "=b:NoSchedule": key "" is not a qualified name/);
    assert.throws(() => parseTaints('a=b c:NoExecute'), /taint "a=b c:NoExecute": value "b c" is not a label value/);
    assert.throws(() => parseTaints('a:NoExecute,a=x:NoExecute'), /taint "a=x:NoExecute": a:NoExecute is given twice/);
  });
});

describe('the Node object', () => {
  test('buildNode reports the machine, labels, taints, endpoint and a Ready condition; it validates', () => {
    const now = new Date('2025-03-01T10:00:00.123Z');
    const n = buildNode(config, { ready: true }, now);
    assert.deepEqual(validate(n), []);
    assert.deepEqual(n.metadata, {
      name: 'node-1',
      labels: {
        'node-role.kubernetes.io/worker': '',
        zone: 'a',
        'kubernetes.io/hostname': 'node-1',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
      },
    });
    assert.deepEqual(n.spec, { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] });
    assert.equal(n.spec?.podCIDR, undefined);
    const st = n.status!;
    assert.deepEqual(st.capacity, { cpu: '2', memory: '24576Mi', pods: '110' });
    assert.deepEqual(st.allocatable, { cpu: '2', memory: '24476Mi', pods: '110' });
    assert.deepEqual(st.addresses, [
      { type: 'InternalIP', address: '172.30.0.11' },
      { type: 'Hostname', address: 'node-1' },
    ]);
    assert.deepEqual(st.nodeInfo, {
      kernelVersion: '6.1.0-18-amd64',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'containerd://1.6.20',
      kubeletVersion: '0.1.0',
      operatingSystem: 'linux',
      architecture: 'amd64',
    });
    assert.deepEqual(st.daemonEndpoints, { agentEndpoint: { port: 7402 } });
    assert.deepEqual(st.conditions, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'AgentReady',
        message: 'tug-agent is running and the container runtime is ready',
        lastHeartbeatTime: '2025-03-01T10:00:00Z',
        lastTransitionTime: '2025-03-01T10:00:00Z',
      },
    ]);
  });

  test('readyCondition keeps lastTransitionTime while the status holds and moves it when it changes', () => {
    const t0 = new Date('2025-03-01T10:00:00Z');
    const t1 = new Date('2025-03-01T10:00:02Z');
    const first = readyCondition({ ready: true }, t0);
    const second = readyCondition({ ready: true }, t1, first);
    assert.equal(second.lastHeartbeatTime, '2025-03-01T10:00:02Z');
    assert.equal(second.lastTransitionTime, '2025-03-01T10:00:00Z');
    const down = readyCondition({ ready: false, reason: 'NetworkNotReady', message: 'no CNI config' }, t1, second);
    assert.deepEqual(down, {
      type: 'Ready',
      status: 'False',
      reason: 'NetworkNotReady',
      message: 'no CNI config',
      lastHeartbeatTime: '2025-03-01T10:00:02Z',
      lastTransitionTime: '2025-03-01T10:00:02Z',
    });
  });

  test('healthOfRuntime reads the CRI RuntimeReady and NetworkReady conditions', () => {
    const ok = { type: 'RuntimeReady', status: true, reason: '', message: '' };
    assert.deepEqual(healthOfRuntime([ok, { type: 'NetworkReady', status: true, reason: '', message: '' }]), { ready: true });
    assert.deepEqual(healthOfRuntime([ok, { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'cni config uninitialized' }]), {
      ready: false,
      reason: 'NetworkNotReady',
      message: 'container runtime: NetworkReady=false (NetworkPluginNotReady): cni config uninitialized',
    });
    assert.deepEqual(healthOfRuntime([]), { ready: false, reason: 'ContainerRuntimeNotReady', message: 'container runtime reports no RuntimeReady condition' });
  });

  test('machine facts: arch names, os-release PRETTY_NAME, and this machine', () => {
    assert.equal(kubeArch('x64'), 'amd64');
    assert.equal(kubeArch('arm64'), 'arm64');
    assert.equal(osImageOf('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
    assert.equal(osImageOf("PRETTY_NAME='Alpine Linux v3.19'"), 'Alpine Linux v3.19');
    assert.equal(osImageOf('PRETTY_NAME=Plain'), 'Plain');
    assert.equal(osImageOf(''), 'Linux');
    const m = machineInfo();
    assert.ok(m.cpus >= 1 && m.memoryBytes > 0 && m.kernelVersion !== '' && m.osImage !== '');
  });

  test('mergeRegistration adds missing flag labels and taints and keeps podCIDR and what others set', () => {
    const existing: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1', resourceVersion: '7', labels: { zone: 'b', team: 'x', 'kubernetes.io/arch': 'arm64' } },
      spec: { podCIDR: '10.244.3.0/24', taints: [{ key: 'maintenance', effect: 'NoExecute' }] },
    };
    const merged = mergeRegistration(existing, config)!;
    assert.equal(merged.metadata.resourceVersion, '7');
    assert.deepEqual(merged.metadata.labels, {
      zone: 'b',
      team: 'x',
      'kubernetes.io/arch': 'amd64',
      'node-role.kubernetes.io/worker': '',
      'kubernetes.io/hostname': 'node-1',
      'kubernetes.io/os': 'linux',
    });
    assert.deepEqual(merged.spec, {
      podCIDR: '10.244.3.0/24',
      taints: [
        { key: 'maintenance', effect: 'NoExecute' },
        { key: 'dedicated', value: 'db', effect: 'NoSchedule' },
      ],
    });
    assert.equal(mergeRegistration(merged, config), undefined);
  });
});

describe('the Lease and when the status is written', () => {
  test('statusWriteDue: not for new heartbeat times alone; for any other change, an unknown Node, or the report period', () => {
    const t0 = new Date('2025-03-01T10:00:00Z');
    const t1 = new Date('2025-03-01T10:00:02Z');
    const first = nodeStatusOf(config, { ready: true }, t0);
    const stored: Node = { ...buildNode(config, { ready: true }, t0), status: first };
    const again = nodeStatusOf(config, { ready: true }, t1, first.conditions?.[0]);
    assert.notEqual(again.conditions?.[0]?.lastHeartbeatTime, first.conditions?.[0]?.lastHeartbeatTime);
    assert.equal(statusWriteDue(stored, again, 2_000, 60_000), false, 'only the heartbeat time moved');
    assert.equal(statusWriteDue(stored, again, 60_000, 60_000), true, 'the report period has passed');
    assert.equal(statusWriteDue(undefined, again, 2_000, 60_000), true, 'the Node as stored is not known');
    const down = nodeStatusOf(config, { ready: false, reason: 'NetworkNotReady', message: 'no CNI config' }, t1, first.conditions?.[0]);
    assert.equal(statusWriteDue(stored, down, 2_000, 60_000), true, 'Ready changed');
    const moved: NodeStatus = { ...again, addresses: [{ type: 'InternalIP', address: '172.30.0.99' }] };
    assert.equal(statusWriteDue(stored, moved, 2_000, 60_000), true, 'an address changed');
    const unknown: Node = { ...stored, status: { ...first, conditions: [{ ...first.conditions![0]!, status: 'Unknown', reason: 'NodeStatusUnknown' }] } };
    assert.equal(statusWriteDue(unknown, nodeStatusOf(config, { ready: true }, t1, unknown.status?.conditions?.[0]), 2_000, 60_000), true, 'Ready=Unknown set by the control plane');
    const reordered: Node = { ...stored, status: Object.fromEntries(Object.entries(first).reverse()) as NodeStatus };
    assert.equal(statusWriteDue(reordered, again, 2_000, 60_000), false, 'key order does not matter');
  });
});

describe('NodeRegistration', () => {
  let api: TestApi;
  let server: TestApiServer;
  let client: TugClient;
  let reg: NodeRegistration | undefined;

  beforeEach(async () => {
    api = new TestApi();
    server = await TestApiServer.start(api);
    client = new TugClient({ endpoints: [server.address], backoffMs: 5, backoffMsMax: 50, retryBudgetMs: 300 });
  });
  afterEach(async () => {
    await reg?.stop();
    reg = undefined;
    client.close();
    await server.stop();
  });

  const stored = (): Node | undefined => api.object('Node', '', 'node-1') as unknown as Node | undefined;
  const lease = (): Lease | undefined => api.object('Lease', 'tug-node-lease', 'node-1') as unknown as Lease | undefined;
  const readyOf = (n: Node | undefined) => n?.status?.conditions?.find((c) => c.type === 'Ready');
  // The store itself stands for the agent's informer of its Node.
  const common = { storedNode: stored, nodeStatusReportSeconds: 60 };

  test('creates the Node, then renews its Lease every beat and writes the status only when it changes or the report period has passed', async () => {
    let clock = Date.parse('2025-03-01T10:00:00Z');
    const { log } = logCapture();
    reg = new NodeRegistration({ client, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 0.05, log, now: () => new Date(clock) });
    await reg.start();
    assert.ok(reg.isRegistered);
    assert.equal(readyOf(stored())?.lastHeartbeatTime, '2025-03-01T10:00:00Z');
    assert.equal(stored()?.metadata.labels?.['zone'], 'a');
    await until('the Lease', () => lease() !== undefined);
    assert.deepEqual(lease()?.spec, { holderIdentity: 'node-1', leaseDurationSeconds: 1, renewTime: '2025-03-01T10:00:00.000Z' });
    const version = stored()?.metadata.resourceVersion;

    clock += 10_000;
    await until('a renewal', () => lease()?.spec?.renewTime === '2025-03-01T10:00:10.000Z');
    await sleep(200); // a few more beats
    assert.equal(stored()?.metadata.resourceVersion, version, 'an unchanged status is not written');

    clock += 50_000;
    await until('the status written after 60 s', () => readyOf(stored())?.lastHeartbeatTime === '2025-03-01T10:01:00Z');
    assert.equal(readyOf(stored())?.lastTransitionTime, '2025-03-01T10:00:00Z');

    // The control plane lost touch meanwhile and set Ready=Unknown: the next beat corrects it.
    clock += 10_000;
    const node = stored()!;
    const unknown = { ...readyOf(node)!, status: 'Unknown' as const, reason: 'NodeStatusUnknown', lastTransitionTime: '2025-03-01T10:01:05Z' };
    await client.nodes.updateStatus({ ...node, status: { ...node.status, conditions: [unknown] } });
    await until('Ready True again', () => readyOf(stored())?.status === 'True');
    assert.deepEqual(
      { heartbeat: readyOf(stored())?.lastHeartbeatTime, transition: readyOf(stored())?.lastTransitionTime, reason: readyOf(stored())?.reason },
      { heartbeat: '2025-03-01T10:01:10Z', transition: '2025-03-01T10:01:10Z', reason: 'AgentReady' },
    );
  });

  test('a deleted Lease is created again, and one left by an earlier run is taken over', async () => {
    api.seed({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-1', namespace: 'tug-node-lease' }, spec: { holderIdentity: 'someone', renewTime: '2025-01-01T00:00:00Z' } });
    let clock = Date.parse('2025-03-01T10:00:00Z');
    const { log } = logCapture();
    reg = new NodeRegistration({ client, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 0.05, log, now: () => new Date(clock) });
    await reg.start();
    await until('the Lease taken over', () => lease()?.spec?.holderIdentity === 'node-1');
    assert.equal(lease()?.spec?.renewTime, '2025-03-01T10:00:00.000Z');
    await client.leases.delete('tug-node-lease', 'node-1');
    clock += 1_000;
    await until('the Lease created again', () => lease()?.spec?.renewTime === '2025-03-01T10:00:01.000Z');
  });

  test('an existing Node keeps its podCIDR and others\' labels, gains the flag labels and taints, and gets a fresh status', async () => {
    api.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1', labels: { team: 'x' } },
      spec: { podCIDR: '10.244.3.0/24' },
      status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2025-03-01T09:00:00Z', lastTransitionTime: '2025-03-01T08:00:00Z' }] },
    });
    const { log } = logCapture();
    reg = new NodeRegistration({ client, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 60, log, now: () => new Date('2025-03-01T10:00:00Z') });
    await reg.start();
    const n = stored()!;
    assert.equal(n.spec?.podCIDR, '10.244.3.0/24');
    assert.deepEqual(n.spec?.taints, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]);
    assert.equal(n.metadata.labels?.['team'], 'x');
    assert.equal(n.metadata.labels?.['zone'], 'a');
    assert.deepEqual(readyOf(n), {
      type: 'Ready',
      status: 'True',
      reason: 'AgentReady',
      message: 'tug-agent is running and the container runtime is ready',
      lastHeartbeatTime: '2025-03-01T10:00:00Z',
      lastTransitionTime: '2025-03-01T08:00:00Z',
    });
    assert.equal(n.status?.daemonEndpoints?.agentEndpoint?.port, 7402);
  });

  test('Ready is False with the reason while the health check fails, and a throwing check counts as failing', async () => {
    let health: NodeHealth | Error = { ready: false, reason: 'NetworkNotReady', message: 'no CNI config yet' };
    const { log } = logCapture();
    reg = new NodeRegistration({
      client,
      ...config,
      ...common,
      health: async () => {
        if (health instanceof Error) throw health;
        return health;
      },
      heartbeatSeconds: 0.05,
      log,
    });
    await reg.start();
    assert.equal(readyOf(stored())?.status, 'False');
    assert.equal(readyOf(stored())?.reason, 'NetworkNotReady');
    health = { ready: true };
    await until('Ready True', () => readyOf(stored())?.status === 'True');
    health = new Error('connect ENOENT /run/containerd/containerd.sock');
    await until('Ready False again', () => readyOf(stored())?.reason === 'ContainerRuntimeUnreachable');
    assert.match(readyOf(stored())?.message ?? '', /did not answer: connect ENOENT/);
  });

  test('registers once the API comes up, logs a heartbeat outage once, and re-registers a deleted Node', async () => {
    const port = await freePort();
    const late = new TugClient({ endpoints: [`127.0.0.1:${port}`], backoffMs: 5, backoffMsMax: 20, retryBudgetMs: 100, attemptTimeoutMs: 100 });
    const { log, lines } = logCapture();
    reg = new NodeRegistration({ client: late, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 0.05, log, backoff: { initialMs: 20, maxMs: 50 } });
    const started = reg.start();
    await sleep(300);
    assert.equal(reg.isRegistered, false);
    let up = await TestApiServer.start(api, port);
    try {
      await started;
      assert.ok(stored() !== undefined);
      assert.ok(lines().some((l) => l.msg === 'node registration failed; retrying'));

      await up.stop();
      await sleep(500); // about ten beats fail
      const outages = lines().filter((l) => l.msg.startsWith('node heartbeat failed'));
      assert.equal(outages.length, 1, 'one warning per outage');
      up = await TestApiServer.start(api, port);
      await until('the heartbeat recovers', () => lines().some((l) => l.msg === 'node heartbeat: writing again'));

      await late.nodes.delete('node-1');
      await until('the Node is registered again', () => stored() !== undefined);
      assert.deepEqual(stored()?.spec?.taints, config.taints);
    } finally {
      await reg.stop();
      late.close();
      await up.stop();
    }
  });

  test('a member that stops answering (a partition: no refusal, no reply) holds a heartbeat for two seconds at most before the next member gets it', async () => {
    // The member first in the list is reached through a relay that, on cue, keeps its
    // connections open and forwards nothing, as a partition between two machines does.
    let silent = false;
    const held = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      held.add(inbound);
      const outbound = net.connect(Number(server.address.split(':')[1]), '127.0.0.1');
      held.add(outbound);
      inbound.on('data', (b) => void (silent || outbound.write(b)));
      outbound.on('data', (b) => void (silent || inbound.write(b)));
      inbound.on('error', () => undefined);
      outbound.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const both = new TugClient({ endpoints: [`127.0.0.1:${(relay.address() as net.AddressInfo).port}`, server.address], retryBudgetMs: 20_000 });
    const { log } = logCapture();
    try {
      reg = new NodeRegistration({ client: both, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 0.1, log });
      await reg.start();
      await until('a lease', () => lease() !== undefined);
      silent = true;
      const cutAt = Date.now();
      await until('a lease renewed through the other member', () => Date.parse(lease()?.spec?.renewTime ?? '') >= cutAt, 10_000);
      const tookMs = Date.now() - cutAt;
      assert.ok(tookMs < HEARTBEAT_ATTEMPT_MS + 1_000, `renewed ${tookMs} ms after the member went silent`);
    } finally {
      await reg?.stop();
      reg = undefined;
      both.close();
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  test('stop() ends registration attempts against an API that never answers', async () => {
    const dead = new TugClient({ endpoints: [`127.0.0.1:${await freePort()}`], retryBudgetMs: 100, attemptTimeoutMs: 100 });
    const { log } = logCapture();
    reg = new NodeRegistration({ client: dead, ...config, ...common, health: async () => ({ ready: true }), heartbeatSeconds: 1, log, backoff: { initialMs: 10_000, maxMs: 10_000 } });
    const started = reg.start();
    await sleep(200);
    await reg.stop();
    await started;
    assert.equal(reg.isRegistered, false);
    dead.close();
  });
});
