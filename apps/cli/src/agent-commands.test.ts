// agent-commands.test.ts: `tug logs` and `tug exec` against the fake API (pods and nodes) and a
// real AgentServer on 127.0.0.1 with a fake container lookup, temp log files and a fake exec.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { runCaptured } from '@tugboat/cli';
import type { CapturedRun } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { AgentServer, ContainerNotFoundError } from '@tugboat/agent';
import type { ContainerInstance } from '@tugboat/agent';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const T1 = '2024-05-01T10:00:00.000000001Z';
const T2 = '2024-05-01T10:00:05.000000000Z';

let api: TestApi;
let apiServer: TestApiServer;
let agent: AgentServer;
let agentPort: number;
let home: string;
/** instances: what the fake lookup answers, by "ns/pod/container/previous". */
const instances = new Map<string, ContainerInstance>();
const execCalls: { id: string; cmd: string[]; timeout: number }[] = [];

const tug = (args: string[], signal?: AbortSignal) => runCaptured(args, { env: { TUG_ENDPOINTS: apiServer.address }, homedir: home, signal });

const text = (r: CapturedRun) => r.stdout;

function pod(name: string, containers: string[], nodeName?: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { ...(nodeName === undefined ? {} : { nodeName }), containers: containers.map((c) => ({ name: c, image: 'tugboat.local/web:latest' })) },
  };
}

function node(name: string, status: Record<string, unknown>) {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, status };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'tug-agent-commands-test-'));
  const current = join(home, 'app-1.log');
  const previous = join(home, 'app-0.log');
  writeFileSync(current, `${T1} stdout F hello\n${T2} stderr F warn\n`);
  writeFileSync(previous, `${T1} stdout F crashed\n`);
  instances.set('default/web/app/false', { containerId: 'c1', logPath: current, running: true });
  instances.set('default/web/app/true', { containerId: 'c0', logPath: previous, running: false });
  instances.set('default/duo/b/false', { containerId: 'd1', logPath: current, running: true });

  agent = new AgentServer({
    listen: '127.0.0.1:0',
    log: pino({ level: 'silent' }),
    logPollMs: 20,
    stats: async () => ({ node: { cpuNanoCores: undefined, cpuWindowMs: 0, memoryUsedBytes: 0 }, pods: [] }),
    lookup: {
      async find(namespace, podName, container, prev) {
        const found = instances.get(`${namespace}/${podName}/${container}/${prev}`);
        if (found === undefined) throw new ContainerNotFoundError(`container ${container} of pod ${namespace}/${podName} has no previous instance`);
        return { ...found };
      },
    },
    exec: async (id, cmd, timeout) => {
      execCalls.push({ id, cmd, timeout });
      if (cmd[0] === 'hang') throw Object.assign(new Error('timeout'), { code: 4 });
      return { stdout: Buffer.from(`out: ${cmd.join(' ')}\n`), stderr: Buffer.from([0xc3, 0x28, 0x0a]), exitCode: Number(cmd.at(-1)) || 0 };
    },
  });
  agentPort = (await agent.start()).port;

  api = new TestApi();
  apiServer = await TestApiServer.start(api);
  const addresses = [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: 'n1' }];
  api.seed(node('n1', { addresses, daemonEndpoints: { agentEndpoint: { port: agentPort } } }));
  api.seed(node('n2', { addresses }));
  api.seed(node('n3', { addresses, daemonEndpoints: { agentEndpoint: { port: await freePort() } } }));
  api.seed(pod('web', ['app'], 'n1'));
  api.seed(pod('duo', ['a', 'b'], 'n1'));
  api.seed(pod('pending', ['app']));
  api.seed(pod('old-node', ['app'], 'n2'));
  api.seed(pod('dead-node', ['app'], 'n3'));
});

after(async () => {
  await agent.stop();
  await apiServer.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('tug logs', () => {
  test('prints the log of the only container', async () => {
    const r = await tug(['logs', 'web']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(text(r), 'hello\nwarn\n');
  });

  test('--tail, --timestamps, --previous, -c', async () => {
    assert.equal(text(await tug(['logs', 'web', '--tail', '1', '--timestamps'])), `${T2} warn\n`);
    assert.equal(text(await tug(['logs', 'web', '-p'])), 'crashed\n');
    assert.equal(text(await tug(['logs', 'duo', '-c', 'b', '-n', 'default'])), 'hello\nwarn\n');
  });

  test('-f follows until the container exits', async () => {
    const path = join(home, 'follow.log');
    writeFileSync(path, `${T1} stdout F first\n`);
    instances.set('default/web/app/false', { containerId: 'c1', logPath: path, running: true });
    try {
      const following = tug(['logs', 'web', '-f']);
      await new Promise((r) => setTimeout(r, 150));
      appendFileSync(path, `${T2} stdout F second\n`);
      await new Promise((r) => setTimeout(r, 100));
      instances.set('default/web/app/false', { containerId: 'c2', logPath: path, running: true });
      const r = await following;
      assert.equal(r.code, 0);
      assert.equal(text(r), 'first\nsecond\n');
    } finally {
      instances.set('default/web/app/false', { containerId: 'c1', logPath: join(home, 'app-1.log'), running: true });
    }
  });

  test('-f ends quietly when interrupted', async () => {
    const ac = new AbortController();
    const following = tug(['logs', 'web', '-f'], ac.signal);
    await new Promise((r) => setTimeout(r, 150));
    ac.abort();
    const r = await following;
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(text(r), 'hello\nwarn\n');
  });

  test('a pod of several containers needs -c, and -c must name one of them', async () => {
    let r = await tug(['logs', 'duo']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "error: pod default/duo has several containers (a, b): choose one with -c\nSee 'tug logs --help'.\n");
    r = await tug(['logs', 'duo', '-c', 'x']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: pod default/duo has no container "x"; its containers: a, b\n');
  });

  test('errors from the agent name the node', async () => {
    const r = await tug(['logs', 'duo', '-c', 'a', '--previous']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: tug-agent on node n1: container a of pod default/duo has no previous instance\n');
  });

  test('pods that are missing, unscheduled, or on a node without a reachable agent', async () => {
    let r = await tug(['logs', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(NotFound\): pods "nope" in namespace "default" not found/);
    r = await tug(['logs', 'pending']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: pod default/pending is not bound to a node yet\n');
    r = await tug(['logs', 'old-node']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: node n2 reports no agent port (status.daemonEndpoints.agentEndpoint.port); is its tug-agent running?\n');
    r = await tug(['logs', 'dead-node']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: cannot reach the tug-agent of node n3 at 127\.0\.0\.1:\d+: /);
  });

  test('bad flags are usage errors', async () => {
    for (const args of [['logs', 'web', '--tail', '0'], ['logs', 'web', '--tail', 'x'], ['logs', 'web', '-o', 'json'], ['logs']]) {
      assert.equal((await tug(args)).code, 2, args.join(' '));
    }
  });
});

describe('tug exec', () => {
  test('writes the output as it is and exits 0', async () => {
    const r = await tug(['exec', 'web', '--', 'ls', '-l', '/']);
    assert.equal(r.code, 0);
    assert.equal(text(r), 'out: ls -l /\n');
    assert.deepEqual(execCalls.at(-1), { id: 'c1', cmd: ['ls', '-l', '/'], timeout: 60 });
  });

  test("the command's exit code becomes tug's", async () => {
    const r = await tug(['exec', 'duo', '-c', 'b', '--timeout', '5', '--', 'sh', '-c', 'exit 3', '3']);
    assert.equal(r.code, 3);
    assert.equal(text(r), 'out: sh -c exit 3 3\n');
    assert.deepEqual(execCalls.at(-1), { id: 'd1', cmd: ['sh', '-c', 'exit 3', '3'], timeout: 5 });
  });

  test('a command past its timeout fails with the agent\'s message', async () => {
    const r = await tug(['exec', 'web', '--timeout', '2', '--', 'hang']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: tug-agent on node n1: the command ran past its timeout of 2s in container app of pod default/web\n');
  });

  test('usage errors: no command, a bad --timeout', async () => {
    assert.equal((await tug(['exec', 'web'])).code, 2);
    assert.equal((await tug(['exec', 'web', '--timeout', '0', '--', 'ls'])).code, 2);
  });

  test('the tug binary passes raw bytes and the exit code through', async () => {
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: home, TUG_ENDPOINTS: apiServer.address };
    const child = spawn(process.execPath, [MAIN, 'exec', 'web', '--', 'false', '7'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 7);
    assert.equal(Buffer.concat(out).toString(), 'out: false 7\n');
    assert.deepEqual(Buffer.concat(err), Buffer.from([0xc3, 0x28, 0x0a]));
  });
});
