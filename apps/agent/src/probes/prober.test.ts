// prober.test.ts: single probe runs (HTTP, TCP, exec) against servers on 127.0.0.1 and a fake
// exec, the threshold logic, and ProbeManager's timing on mocked timers.
import { after, afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import type { Pod, Probe } from '@tugboat/api';
import { Prober, resolvePort } from './probe.ts';
import type { ProbeSubject } from './probe.ts';
import { ProbeManager, initialProbeState, nextProbeState } from './prober.ts';
import type { ProbeTarget } from './prober.ts';

const log = pino({ level: 'silent' });
const out = (s = '') => Buffer.from(s);

describe('nextProbeState', () => {
  const probe: Probe = { successThreshold: 2, failureThreshold: 3 };

  test('readiness starts false, liveness true', () => {
    assert.equal(initialProbeState('readiness').result, false);
    assert.equal(initialProbeState('liveness').result, true);
  });

  test('flips to success after successThreshold successes in a row', () => {
    let s = initialProbeState('readiness');
    s = nextProbeState(s, true, probe);
    assert.equal(s.result, false);
    s = nextProbeState(s, false, probe);
    s = nextProbeState(s, true, probe);
    assert.equal(s.result, false, 'a failure resets the count');
    s = nextProbeState(s, true, probe);
    assert.equal(s.result, true);
  });

  test('flips to failure after failureThreshold failures in a row', () => {
    let s = initialProbeState('liveness');
    for (let i = 0; i < 2; i++) s = nextProbeState(s, false, probe);
    assert.equal(s.result, true);
    s = nextProbeState(s, true, probe);
    assert.equal(s.failures, 0);
    for (let i = 0; i < 3; i++) s = nextProbeState(s, false, probe);
    assert.equal(s.result, false);
  });

  test('defaults: success after 1, failure after 3', () => {
    assert.equal(nextProbeState(initialProbeState('readiness'), true, {}).result, true);
    let s = initialProbeState('liveness');
    for (let i = 0; i < 3; i++) s = nextProbeState(s, false, {});
    assert.equal(s.result, false);
  });
});

describe('resolvePort', () => {
  const subject: ProbeSubject = {
    podIP: '127.0.0.1',
    containerId: 'c1',
    containerName: 'web',
    ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090 }],
  };
  test('numbers, numeric strings and port names', () => {
    assert.equal(resolvePort(81, subject), 81);
    assert.equal(resolvePort('82', subject), 82);
    assert.equal(resolvePort('http', subject), 8080);
  });
  test('an unknown name says which names there are', () => {
    assert.equal(resolvePort('metrics', subject), 'container web has no port named "metrics"; its named ports: http');
  });
});

describe('Prober', () => {
  let server: http.Server;
  let port: number;
  let lastHeaders: http.IncomingHttpHeaders = {};
  let closedPort: number;
  const execCalls: { id: string; cmd: string[]; timeout: number }[] = [];
  const prober = new Prober(async (id, cmd, timeout) => {
    execCalls.push({ id, cmd, timeout });
    if (cmd[0] === 'boom') throw new Error('cri ExecSync: container is gone');
    const code = Number(cmd[1] ?? 0);
    return { exitCode: code, stdout: out(code === 0 ? '' : 'not healthy'), stderr: out() };
  });
  const subject = (): ProbeSubject => ({ podIP: '127.0.0.1', containerId: 'c1', containerName: 'web', ports: [{ name: 'http', containerPort: port }] });

  before(async () => {
    server = http.createServer((req, res) => {
      lastHeaders = req.headers;
      if (req.url === '/hang') return; // never answers
      const status = Number(/^\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {});
      res.end('body');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    const tmp = net.createServer();
    await new Promise<void>((resolve) => tmp.listen(0, '127.0.0.1', resolve));
    closedPort = (tmp.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => tmp.close(() => resolve()));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await prober.close();
  });

  test('HTTP: 2xx and 3xx succeed (redirects not followed), with the given headers', async () => {
    const probe: Probe = { httpGet: { port: 'http', path: '/status/204', httpHeaders: [{ name: 'X-Check', value: 'yes' }] } };
    assert.deepEqual(await prober.run(probe, subject()), { ok: true, message: '' });
    assert.equal(lastHeaders['x-check'], 'yes');
    assert.deepEqual(await prober.run({ httpGet: { port, path: '/status/302' } }, subject()), { ok: true, message: '' });
  });

  test('HTTP: 4xx and 5xx fail with the status', async () => {
    const r = await prober.run({ httpGet: { port, path: '/status/503' } }, subject());
    assert.deepEqual(r, { ok: false, message: `HTTP GET http://127.0.0.1:${port}/status/503: status 503` });
  });

  test('HTTP: host overrides the pod IP; a refused connection fails', async () => {
    const r = await prober.run({ httpGet: { port: closedPort, host: '127.0.0.1' } }, { ...subject(), podIP: '192.0.2.1' });
    assert.equal(r.ok, false);
    assert.match(r.message, new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${closedPort}/: .*ECONNREFUSED`));
  });

  test('HTTP: no answer within timeoutSeconds fails', async () => {
    const r = await prober.run({ httpGet: { port, path: '/hang' }, timeoutSeconds: 1 }, subject());
    assert.deepEqual(r, { ok: false, message: `HTTP GET http://127.0.0.1:${port}/hang: no answer within 1s` });
  });

  test('HTTP: an unknown port name fails without a request', async () => {
    const r = await prober.run({ httpGet: { port: 'admin' } }, subject());
    assert.deepEqual(r, { ok: false, message: 'container web has no port named "admin"; its named ports: http' });
  });

  test('TCP: an open port succeeds, a closed one fails', async () => {
    assert.equal((await prober.run({ tcpSocket: { port } }, subject())).ok, true);
    const r = await prober.run({ tcpSocket: { port: closedPort } }, subject());
    assert.equal(r.ok, false);
    assert.match(r.message, new RegExp(`^TCP connect 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
  });

  test('exec: exit 0 succeeds; another code fails with the output; errors fail', async () => {
    assert.deepEqual(await prober.run({ exec: { command: ['check', '0'] }, timeoutSeconds: 4 }, subject()), { ok: true, message: '' });
    assert.deepEqual(execCalls.at(-1), { id: 'c1', cmd: ['check', '0'], timeout: 4 });
    assert.deepEqual(await prober.run({ exec: { command: ['check', '3'] } }, subject()), {
      ok: false,
      message: 'command ["check","3"] exited with 3: not healthy',
    });
    assert.deepEqual(await prober.run({ exec: { command: ['boom'] } }, subject()), { ok: false, message: 'cri ExecSync: container is gone' });
  });
});

describe('ProbeManager', () => {
  /** exitCodes: what the fake exec answers, by container id (a function of the call number). */
  let exitCodes: Map<string, (call: number) => number>;
  let calls: Map<string, number>;
  let livenessFailures: { target: ProbeTarget; message: string }[];
  let readinessChanges: string[];
  let manager: ProbeManager;

  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  /** advance moves mocked time forward by ms, a second at a time, letting probes finish. */
  async function advance(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 1000) {
      mock.timers.tick(Math.min(1000, left));
      await flush();
    }
  }

  const pod = (readiness?: Probe, liveness?: Probe): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: {
      containers: [
        { name: 'app', image: 'web', ...(readiness ? { readinessProbe: readiness } : {}), ...(liveness ? { livenessProbe: liveness } : {}) },
        { name: 'side', image: 'web' },
      ],
    },
  });
  const target = (containerId: string, containerName = 'app'): ProbeTarget => ({
    podUid: 'u1',
    podIP: '127.0.0.1',
    containerName,
    containerId,
    startedAtMs: Date.now(),
  });
  const execProbe = (extra: Partial<Probe> = {}): Probe => ({ exec: { command: ['check'] }, periodSeconds: 1, ...extra });

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    exitCodes = new Map();
    calls = new Map();
    livenessFailures = [];
    readinessChanges = [];
    manager = new ProbeManager({
      exec: async (id) => {
        const n = (calls.get(id) ?? 0) + 1;
        calls.set(id, n);
        return { exitCode: exitCodes.get(id)?.(n) ?? 0, stdout: out(), stderr: out('bad') };
      },
      log,
      onLivenessFailure: (t, message) => livenessFailures.push({ target: t, message }),
      onReadinessChange: (uid) => readinessChanges.push(uid),
    });
  });
  afterEach(() => {
    manager.stop();
    mock.timers.reset();
  });

  test('a running container without a readiness probe is ready; others are not', () => {
    manager.update(pod(), [target('c1'), target('s1', 'side')]);
    assert.equal(manager.ready('u1', 'app', 'c1'), true);
    assert.equal(manager.ready('u1', 'side', 's1'), true);
    assert.equal(manager.ready('u1', 'app', 'old'), false);
    assert.equal(manager.ready('u1', 'side', 'c1'), false);
    assert.equal(manager.ready('u2', 'app', 'c1'), false);
  });

  test('readiness waits initialDelaySeconds, then follows the thresholds', async () => {
    // Succeeds on calls 1-2, fails on 3-4, succeeds after.
    exitCodes.set('c1', (n) => (n === 3 || n === 4 ? 1 : 0));
    manager.update(pod(execProbe({ initialDelaySeconds: 5, successThreshold: 2, failureThreshold: 2 })), [target('c1')]);
    await advance(4000);
    assert.equal(calls.get('c1'), undefined, 'no probe before the initial delay');
    assert.equal(manager.ready('u1', 'app', 'c1'), false);
    await advance(1000);
    assert.equal(calls.get('c1'), 1);
    assert.equal(manager.ready('u1', 'app', 'c1'), false, 'one success of two');
    await advance(1000);
    assert.equal(manager.ready('u1', 'app', 'c1'), true);
    assert.deepEqual(readinessChanges, ['u1']);
    await advance(1000);
    assert.equal(manager.ready('u1', 'app', 'c1'), true, 'one failure of two');
    await advance(1000);
    assert.equal(manager.ready('u1', 'app', 'c1'), false);
    await advance(2000);
    assert.equal(manager.ready('u1', 'app', 'c1'), true);
    assert.deepEqual(readinessChanges, ['u1', 'u1', 'u1']);
  });

  test('the initial delay counts from the container start, not from update', async () => {
    manager.update(pod(execProbe({ initialDelaySeconds: 5 })), [{ ...target('c1'), startedAtMs: Date.now() - 10_000 }]);
    await flush();
    mock.timers.tick(0);
    await flush();
    assert.equal(calls.get('c1'), 1);
    assert.equal(manager.ready('u1', 'app', 'c1'), true);
  });

  test('liveness reports failureThreshold failures once and stops probing that container', async () => {
    exitCodes.set('c1', () => 1);
    const p = pod(undefined, execProbe({ failureThreshold: 3, periodSeconds: 2 }));
    manager.update(p, [target('c1')]);
    mock.timers.tick(0);
    await flush();
    await advance(4000);
    assert.equal(calls.get('c1'), 3);
    assert.equal(livenessFailures.length, 1);
    assert.equal(livenessFailures[0]?.target.containerId, 'c1');
    assert.equal(livenessFailures[0]?.message, 'command ["check"] exited with 1: bad');
    manager.update(p, [target('c1')]);
    await advance(10_000);
    assert.equal(calls.get('c1'), 3, 'not probed again');
    assert.equal(livenessFailures.length, 1);
    // Its successor has a new id and is probed.
    manager.update(p, [target('c2')]);
    mock.timers.tick(0);
    await flush();
    assert.equal(calls.get('c2'), 1);
    assert.equal(livenessFailures.length, 1);
  });

  test('containers no longer listed, removed pods and a stopped manager are not probed', async () => {
    manager.update(pod(execProbe()), [target('c1')]);
    mock.timers.tick(0);
    await flush();
    assert.equal(calls.get('c1'), 1);
    manager.update(pod(execProbe()), []);
    await advance(3000);
    assert.equal(calls.get('c1'), 1);
    assert.equal(manager.ready('u1', 'app', 'c1'), false);

    manager.update(pod(execProbe()), [target('c2')]);
    manager.remove('u1');
    await advance(3000);
    assert.equal(calls.get('c2'), undefined);

    manager.stop();
    manager.update(pod(execProbe()), [target('c3')]);
    await advance(3000);
    assert.equal(calls.get('c3'), undefined);
  });

  test('a changed readiness probe starts over: not ready until it succeeds', async () => {
    manager.update(pod(execProbe()), [target('c1')]);
    mock.timers.tick(0);
    await flush();
    assert.equal(manager.ready('u1', 'app', 'c1'), true);
    manager.update(pod(execProbe()), [target('c1')]);
    assert.equal(manager.ready('u1', 'app', 'c1'), true, 'the same probe keeps its result');
    manager.update(pod(execProbe({ periodSeconds: 3, initialDelaySeconds: 60 })), [target('c1')]);
    assert.equal(manager.ready('u1', 'app', 'c1'), false);
    assert.deepEqual(readinessChanges, ['u1', 'u1']);
    manager.update(pod(), [target('c1')]);
    assert.equal(manager.ready('u1', 'app', 'c1'), true, 'no probe: ready while running');
  });
});

test('ProbeManager probes over HTTP with real timers', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let changed!: () => void;
  const readyNow = new Promise<void>((resolve) => (changed = resolve));
  const manager = new ProbeManager({
    exec: async () => ({ exitCode: 0, stdout: out(), stderr: out() }),
    log,
    onLivenessFailure: () => assert.fail('liveness must not fail'),
    onReadinessChange: () => changed(),
  });
  try {
    const probe: Probe = { httpGet: { port: 'web', path: '/ready' }, periodSeconds: 1 };
    const p: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default', uid: 'u9' },
      spec: { containers: [{ name: 'app', image: 'web', ports: [{ name: 'web', containerPort: port }], readinessProbe: probe, livenessProbe: probe }] },
    };
    manager.update(p, [{ podUid: 'u9', podIP: '127.0.0.1', containerName: 'app', containerId: 'c9', startedAtMs: Date.now() }]);
    await readyNow;
    assert.equal(manager.ready('u9', 'app', 'c9'), true);
  } finally {
    manager.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
