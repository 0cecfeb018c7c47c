// server.test.ts: AgentServer on 127.0.0.1 with a fake container lookup, temp log files and a
// fake exec: logs (all, tail, timestamps, previous, follow to the container's exit, cancel),
// exec (output, exit codes, timeout), stats (a UsageSampler over a fake CRI runtime and a fake
// /proc) and the gRPC codes of errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { create } from '@bufbuild/protobuf';
import { AgentService, GrpcError, Status, createClient, cri } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';
import { AgentServer, ContainerNotFoundError, chunkLines } from './server.ts';
import type { ContainerInstance, ContainerLookup } from './server.ts';
import { FIRST_WINDOW_MS, UsageSampler } from './stats/sampler.ts';
import { readContainers } from './stats/sources.ts';

const T1 = '2024-05-01T10:00:00.000000001Z';
const T2 = '2024-05-01T10:00:05.000000000Z';

const dir = mkdtempSync(join(tmpdir(), 'tug-agent-server-test-'));
const currentLog = join(dir, 'web-1.log');
const previousLog = join(dir, 'web-0.log');

/** instances: what the fake lookup knows, by "ns/pod/container/previous". */
const instances = new Map<string, ContainerInstance>();
const lookup: ContainerLookup = {
  async find(namespace, pod, container, previous) {
    if (pod !== 'web') throw new ContainerNotFoundError(`pod ${namespace}/${pod} is not on this node`);
    const name = container === '' ? 'app' : container;
    if (name !== 'app') throw new ContainerNotFoundError(`pod ${namespace}/${pod} has no container "${name}"; its containers: app`);
    const found = instances.get(`${namespace}/${pod}/${name}/${previous}`);
    if (found === undefined) throw new ContainerNotFoundError(`container ${name} of pod ${namespace}/${pod} has no previous instance`);
    return { ...found };
  },
};

const execCalls: { id: string; cmd: string[]; timeout: number }[] = [];

/** The fake runtime's clock and counters: every container uses a quarter of a core (but
 *  web's "side", of which the runtime gives no CPU figure), the machine 1.5 cores; time moves
 *  only when the sampler sleeps. */
const SEC = 1_000_000_000n;
let clockNs = 1_700_000_000n * SEC;
let statsFail = false;
const fakeCri = {
  async listContainerStats(filter?: { labelSelector?: Record<string, string> }) {
    const ns = filter?.labelSelector?.['tugboat.io/pod-namespace'];
    const all = [
      ['c-web', 'default', 'web', 'app'],
      ['c-side', 'default', 'web', 'side'],
      ['c-db', 'data', 'db', 'db'],
    ].filter(([, namespace]) => ns === undefined || namespace === ns);
    return all.map(([id, namespace, pod, container]) =>
      create(cri.ContainerStatsSchema, {
        attributes: {
          id: id!,
          labels: { 'tugboat.io/pod-namespace': namespace!, 'tugboat.io/pod-name': pod!, 'tugboat.io/pod-uid': `uid-${pod}`, 'tugboat.io/container-name': container! },
        },
        ...(id === 'c-side' ? {} : { cpu: { timestamp: clockNs, usageCoreNanoSeconds: { value: (clockNs - 1_700_000_000n * SEC) / 4n } } }),
        memory: { workingSetBytes: { value: 64n * 1024n * 1024n } },
      }),
    );
  },
  async listContainers() {
    return ['c-web', 'c-side', 'c-db'].map((id) => create(cri.ContainerSchema, { id }));
  },
};
const sampler = new UsageSampler({
  node: async () => {
    if (statsFail) throw new Error('/proc/stat: EACCES');
    return { cpu: { atNs: clockNs, usedNs: ((clockNs - 1_700_000_000n * SEC) * 3n) / 2n }, memoryUsedBytes: 3 * 1024 ** 3 };
  },
  containers: (namespace) => readContainers(fakeCri, namespace),
  nowNs: () => clockNs,
  sleep: async (ms) => {
    clockNs += BigInt(ms) * 1_000_000n;
  },
});
let server: AgentServer;
let client: ServiceClient<typeof AgentService>;

before(async () => {
  writeFileSync(previousLog, `${T1} stdout F before the crash\n`);
  writeFileSync(currentLog, `${T1} stdout F one\n${T1} stderr F two\n${T2} stdout F three\n`);
  instances.set('default/web/app/false', { containerId: 'c1', logPath: currentLog, running: true });
  instances.set('default/web/app/true', { containerId: 'c0', logPath: previousLog, running: false });
  server = new AgentServer({
    listen: '127.0.0.1:0',
    lookup,
    log: pino({ level: 'silent' }),
    logPollMs: 20,
    stats: (namespace) => sampler.sample(namespace),
    exec: async (id, cmd, timeout) => {
      execCalls.push({ id, cmd, timeout });
      switch (cmd[0]) {
        case 'hang':
          return new Promise(() => undefined);
        case 'gone':
          throw Object.assign(new Error('cri ExecSync container c1: NOT_FOUND: no such container'), { code: Status.NOT_FOUND });
        case 'slow':
          throw Object.assign(new Error('cri ExecSync container c1: DEADLINE_EXCEEDED: timeout 1s exceeded'), { code: Status.DEADLINE_EXCEEDED });
        default:
          return { stdout: Buffer.from(`ran ${cmd.join(' ')}\n`), stderr: Buffer.from([0xff, 0x0a]), exitCode: Number(cmd[1] ?? 0) };
      }
    },
  });
  const { address, port } = await server.start();
  assert.ok(port > 0);
  assert.equal(address, `127.0.0.1:${port}`);
  client = createClient(AgentService, address);
});

after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function logs(req: Parameters<typeof client.logs>[0], signal?: AbortSignal): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const res of client.logs(req, { signal })) parts.push(res.data);
  return Buffer.concat(parts).toString('utf8');
}

async function failure(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GrpcError, `expected a GrpcError, got ${String(err)}`);
    return err;
  }
  assert.fail('the call succeeded');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('chunkLines cuts after newlines, and keeps a longer line whole', () => {
  const parts = chunkLines(Buffer.from('aa\nbb\ncccccc\nd\n'), 6);
  assert.deepEqual(parts.map(String), ['aa\nbb\n', 'cccccc\n', 'd\n']);
  assert.deepEqual(chunkLines(Buffer.from('a\n'), 6).map(String), ['a\n']);
});

describe('Logs', () => {
  test('the whole log, stdout and stderr interleaved', async () => {
    assert.equal(await logs({ namespace: 'default', pod: 'web', container: 'app' }), 'one\ntwo\nthree\n');
  });

  test('tail and timestamps', async () => {
    assert.equal(await logs({ namespace: 'default', pod: 'web', tailLines: 2, timestamps: true }), `${T1} two\n${T2} three\n`);
  });

  test('previous reads the instance before', async () => {
    assert.equal(await logs({ namespace: 'default', pod: 'web', previous: true }), 'before the crash\n');
  });

  test('follow streams new lines until the container exits', async () => {
    const path = join(dir, 'follow.log');
    writeFileSync(path, `${T1} stdout F first\n`);
    instances.set('ns2/web/app/false', { containerId: 'f1', logPath: path, running: true });
    const got: string[] = [];
    const reading = (async () => {
      for await (const res of client.logs({ namespace: 'ns2', pod: 'web', follow: true })) got.push(Buffer.from(res.data).toString());
    })();
    await sleep(100);
    assert.deepEqual(got, ['first\n']);
    appendFileSync(path, `${T2} stdout F second\n`);
    await sleep(100);
    assert.deepEqual(got, ['first\n', 'second\n']);
    appendFileSync(path, `${T2} stdout F last\n`);
    // The container restarts: the followed instance is no longer the current one.
    instances.set('ns2/web/app/false', { containerId: 'f2', logPath: join(dir, 'other.log'), running: true });
    await reading;
    assert.equal(got.join(''), 'first\nsecond\nlast\n');
  });

  test('a cancelled follow ends', async () => {
    const ac = new AbortController();
    const reading = logs({ namespace: 'default', pod: 'web', follow: true }, ac.signal);
    await sleep(100);
    ac.abort();
    const err = await failure(reading);
    assert.equal(err.code, Status.CANCELLED);
  });

  test('errors: NOT_FOUND with the lookup message, INVALID_ARGUMENT naming the field', async () => {
    let err = await failure(logs({ namespace: 'default', pod: 'db' }));
    assert.equal(err.code, Status.NOT_FOUND);
    assert.equal(err.message, 'pod default/db is not on this node');
    err = await failure(logs({ namespace: 'default', pod: 'web', container: 'x' }));
    assert.equal(err.code, Status.NOT_FOUND);
    assert.equal(err.message, 'pod default/web has no container "x"; its containers: app');
    err = await failure(logs({ namespace: 'other', pod: 'web', previous: true }));
    assert.equal(err.code, Status.NOT_FOUND);
    assert.equal(err.message, 'container app of pod other/web has no previous instance');
    err = await failure(logs({ namespace: 'default', pod: '' }));
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    assert.equal(err.message, 'pod: required');
    err = await failure(logs({ namespace: 'default', pod: 'web', tailLines: -1 }));
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    assert.equal(err.message, 'tail_lines: must be 0 or more, not -1');
  });
});

describe('Exec', () => {
  test('returns the output and exit code; the timeout defaults to 60 s', async () => {
    const res = await client.exec({ namespace: 'default', pod: 'web', container: 'app', command: ['check', '0'] });
    assert.equal(Buffer.from(res.stdout).toString(), 'ran check 0\n');
    assert.deepEqual(Buffer.from(res.stderr), Buffer.from([0xff, 0x0a]));
    assert.equal(res.exitCode, 0);
    assert.deepEqual(execCalls.at(-1), { id: 'c1', cmd: ['check', '0'], timeout: 60 });
    const failed = await client.exec({ namespace: 'default', pod: 'web', command: ['check', '7'], timeoutSeconds: 5 });
    assert.equal(failed.exitCode, 7);
    assert.equal(execCalls.at(-1)?.timeout, 5);
  });

  test('a command past its timeout is DEADLINE_EXCEEDED, from the runtime or the agent', async () => {
    let err = await failure(client.exec({ namespace: 'default', pod: 'web', command: ['slow'], timeoutSeconds: 1 }));
    assert.equal(err.code, Status.DEADLINE_EXCEEDED);
    assert.equal(err.message, 'the command ran past its timeout of 1s in pod default/web');
    err = await failure(client.exec({ namespace: 'default', pod: 'web', container: 'app', command: ['hang'], timeoutSeconds: 1 }));
    assert.equal(err.code, Status.DEADLINE_EXCEEDED);
    assert.equal(err.message, 'the command ran past its timeout of 1s in container app of pod default/web');
  });

  test('errors: not running, gone, no command, no such pod', async () => {
    instances.set('stopped/web/app/false', { containerId: 's1', logPath: currentLog, running: false });
    let err = await failure(client.exec({ namespace: 'stopped', pod: 'web', command: ['ls'] }));
    assert.equal(err.code, Status.FAILED_PRECONDITION);
    assert.equal(err.message, 'pod stopped/web is not running');
    err = await failure(client.exec({ namespace: 'default', pod: 'web', container: 'app', command: ['gone'] }));
    assert.equal(err.code, Status.NOT_FOUND);
    assert.match(err.message, /^container app of pod default\/web: the container is gone/);
    err = await failure(client.exec({ namespace: 'default', pod: 'web', command: [] }));
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    assert.equal(err.message, 'command: give the command to run');
    err = await failure(client.exec({ namespace: 'default', pod: 'db', command: ['ls'] }));
    assert.equal(err.code, Status.NOT_FOUND);
    assert.equal(err.message, 'pod default/db is not on this node');
  });
});

describe('Stats', () => {
  test('the node and every pod, CPU measured over two readings FIRST_WINDOW_MS apart', async () => {
    const res = await client.stats({});
    assert.equal(res.node?.cpuNanoCores, 1_500_000_000n);
    assert.equal(res.node?.cpuWindowMs, FIRST_WINDOW_MS);
    assert.equal(res.node?.memoryUsedBytes, 3n * 1024n ** 3n);
    assert.deepEqual(
      res.pods.map((p) => [p.namespace, p.name, p.uid, p.containers.map((c) => [c.name, c.cpuNanoCores, c.memoryWorkingSetBytes])]),
      [
        ['data', 'db', 'uid-db', [['db', 250_000_000n, 64n * 1024n * 1024n]]],
        [
          'default',
          'web',
          'uid-web',
          [
            ['app', 250_000_000n, 64n * 1024n * 1024n],
            ['side', undefined, 64n * 1024n * 1024n],
          ],
        ],
      ],
    );
  });

  test('a namespace filter; later calls measure over the gap since the previous reading', async () => {
    clockNs += 4n * SEC;
    const res = await client.stats({ namespace: 'default' });
    assert.deepEqual(res.pods.map((p) => p.name), ['web']);
    assert.equal(res.pods[0]!.containers[0]!.cpuNanoCores, 250_000_000n);
    assert.equal(res.node?.cpuWindowMs, 4000);
  });

  test('a failed reading is INTERNAL, saying what failed', async () => {
    statsFail = true;
    try {
      const err = await failure(client.stats({}));
      assert.equal(err.code, Status.INTERNAL);
      assert.equal(err.message, 'reading usage: /proc/stat: EACCES');
    } finally {
      statsFail = false;
    }
  });
});
