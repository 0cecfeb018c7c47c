// top-commands.test.ts: `tug top nodes` and `tug top pods` against the fake API (nodes) and a
// real AgentServer on 127.0.0.1 whose UsageSampler reads a fake machine: a clock that moves
// only when the sampler waits, and counters that grow at set rates.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { AgentServer, ContainerNotFoundError, UsageSampler } from '@tugboat/agent';
import { runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { formatCpu, formatMemory, percent } from './top-commands.ts';

const SEC = 1_000_000_000n;
const MI = 1024 * 1024;

let api: TestApi;
let apiServer: TestApiServer;
let agent: AgentServer;
let home: string;
let clockNs = 1_700_000_000n * SEC;
const start = clockNs;

/** The fake machine: 1.5 cores busy, 3 GiB in use; each container's CPU rate in nanocores. */
const containers = [
  { id: 'a', namespace: 'default', pod: 'web', container: 'app', rate: 250_000_000n, memory: 64 * MI },
  { id: 'b', namespace: 'default', pod: 'web', container: 'log', rate: 5_000_000n, memory: 8 * MI },
  { id: 'c', namespace: 'default', pod: 'api', container: 'api', rate: 700_000_000n, memory: 32 * MI },
  { id: 'd', namespace: 'data', pod: 'db', container: 'db', rate: 100_000_000n, memory: 512 * MI },
];

const tug = (args: string[]) => runCaptured(args, { env: { TUG_ENDPOINTS: apiServer.address }, homedir: home });

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function node(name: string, port: number | undefined) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: {
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      ...(port === undefined ? {} : { daemonEndpoints: { agentEndpoint: { port } } }),
    },
  };
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'tug-top-test-'));
  const sampler = new UsageSampler({
    node: async () => ({ cpu: { atNs: clockNs, usedNs: ((clockNs - start) * 3n) / 2n }, memoryUsedBytes: 3072 * MI }),
    containers: async (namespace) =>
      containers
        .filter((c) => namespace === '' || c.namespace === namespace)
        .map((c) => ({
          id: c.id,
          namespace: c.namespace,
          pod: c.pod,
          podUid: `uid-${c.pod}`,
          container: c.container,
          cpu: { atNs: clockNs, usedNs: ((clockNs - start) * c.rate) / SEC },
          memoryWorkingSetBytes: c.memory,
        })),
    nowNs: () => clockNs,
    sleep: async (ms) => {
      clockNs += BigInt(ms) * 1_000_000n;
    },
  });
  agent = new AgentServer({
    listen: '127.0.0.1:0',
    log: pino({ level: 'silent' }),
    lookup: {
      find: async (namespace, pod) => {
        throw new ContainerNotFoundError(`pod ${namespace}/${pod} is not on this node`);
      },
    },
    exec: async () => ({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0 }),
    stats: (namespace) => sampler.sample(namespace),
  });
  const { port } = await agent.start();
  api = new TestApi();
  apiServer = await TestApiServer.start(api);
  api.seed(node('n1', port));
  api.seed(node('n2', await freePort()));
  api.seed(node('n3', undefined));
});

after(async () => {
  await agent.stop();
  await apiServer.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('tug top nodes', () => {
  test("each node's CPU and memory, and their share of its allocatable; nodes that do not answer are unknown", async () => {
    const r = await tug(['top', 'nodes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'NAME   CPU(cores)   CPU%        MEMORY(bytes)   MEMORY%',
        'n1     1500m        37%         3072Mi          37%',
        'n2     <unknown>    <unknown>   <unknown>       <unknown>',
        'n3     <unknown>    <unknown>   <unknown>       <unknown>',
        '',
      ].join('\n'),
    );
    const warnings = r.stderr.trim().split('\n');
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /^warning: no usage from node n2: cannot reach the tug-agent of node n2 at 127\.0\.0\.1:\d+: /);
    assert.equal(warnings[1], 'warning: no usage from node n3: node n3 reports no agent port (status.daemonEndpoints.agentEndpoint.port); is its tug-agent running?');
  });

  test('one node; a node that does not answer alone fails the command', async () => {
    let r = await tug(['top', 'node', 'n1']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^NAME .*\nn1 {5}\d+m /);
    r = await tug(['top', 'nodes', 'n3']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: no node reported its usage\n$/);
    assert.equal((await tug(['top', 'nodes', '--sort-by', 'disk'])).code, 2);
  });
});

describe('tug top pods', () => {
  test('the pods of the namespace, summed over their containers', async () => {
    const r = await tug(['top', 'pods']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'NAME   CPU(cores)   MEMORY(bytes)\napi    700m         32Mi\nweb    255m         72Mi\n');
  });

  test('-A, --containers, --sort-by, one pod', async () => {
    let r = await tug(['top', 'pods', '-A', '--sort-by', 'memory']);
    assert.equal(
      r.stdout,
      'NAMESPACE   NAME   CPU(cores)   MEMORY(bytes)\ndata        db     100m         512Mi\ndefault     web    255m         72Mi\ndefault     api    700m         32Mi\n',
    );
    r = await tug(['top', 'pod', 'web', '--containers']);
    assert.equal(r.stdout, 'POD   NAME   CPU(cores)   MEMORY(bytes)\nweb   app    250m         64Mi\nweb   log    5m           8Mi\n');
    r = await tug(['top', 'pods', '-n', 'data']);
    assert.equal(r.stdout, 'NAME   CPU(cores)   MEMORY(bytes)\ndb     100m         512Mi\n');
    r = await tug(['top', 'pods', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: no usage for pod default\/nope: no node reports it running\n$/);
    r = await tug(['top', 'pods', '-n', 'empty']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /No resources found in empty namespace\.\n$/);
    assert.equal((await tug(['top', 'pods', '-A', '-n', 'data'])).code, 2);
  });
});

test('units as kubectl writes them', () => {
  assert.equal(formatCpu(undefined), '<unknown>');
  assert.equal(formatCpu(1_499_999), '1m');
  assert.equal(formatCpu(2_000_000_000), '2000m');
  assert.equal(formatMemory(64 * MI + 100), '64Mi');
  assert.equal(percent(1, 3), '33%');
  assert.equal(percent(1, undefined), '<unknown>');
});
