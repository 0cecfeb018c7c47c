import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CriClient } from '@tugboat/cri';
import { CONTAINER_HASH_ANNOTATION, CONTAINER_NAME_LABEL, GRACE_PERIOD_ANNOTATION, MANAGED_LABEL, POD_UID_LABEL } from '@tugboat/cri';
import { FakeRuntime } from './fake-runtime.ts';
import { listManaged, RuntimeObserver } from './runtime.ts';
import type { RuntimeClient } from './runtime.ts';

// A CriClient is a RuntimeClient (checked by the compiler).
const asRuntimeClient = (c: CriClient): RuntimeClient => c;
void asRuntimeClient;

async function podWithContainer(rt: FakeRuntime, uid: string, managed = true) {
  const labels: Record<string, string> = managed ? { [MANAGED_LABEL]: 'true', [POD_UID_LABEL]: uid } : {};
  const sandboxConfig = {
    metadata: { name: 'p', namespace: 'default', uid, attempt: 0 },
    logDirectory: `/logs/${uid}`,
    labels,
    annotations: { [GRACE_PERIOD_ANNOTATION]: '12' },
  };
  const sandbox = await rt.runPodSandbox(sandboxConfig);
  const container = await rt.createContainer(
    sandbox,
    {
      metadata: { name: 'web', attempt: 2 },
      image: { image: 'web:1' },
      logPath: 'web/2.log',
      labels: { ...labels, [CONTAINER_NAME_LABEL]: 'web' },
      annotations: { [CONTAINER_HASH_ANNOTATION]: 'h1' },
    },
    sandboxConfig,
  );
  return { sandbox, container };
}

describe('RuntimeObserver', () => {
  it('reads the managed sandboxes and containers of one pod as plain values', async () => {
    let now = 1_700_000_000_000;
    const rt = new FakeRuntime({ now: () => now });
    rt.addImage('web:1');
    const { sandbox, container } = await podWithContainer(rt, 'u1');
    await podWithContainer(rt, 'u2');
    await rt.startContainer(container);
    now += 5000;
    rt.exit(container, 137, 'OOMKilled');

    const observer = new RuntimeObserver(rt);
    const obs = await observer.observe('u1');
    assert.deepEqual(obs.sandboxes, [
      {
        id: sandbox,
        attempt: 0,
        ready: true,
        createdAtMs: 1_700_000_000_000,
        namespace: 'default',
        name: 'p',
        ip: '10.244.0.2',
        additionalIps: [],
        graceSeconds: 12,
      },
    ]);
    assert.equal(obs.containers.length, 1);
    const c = obs.containers[0];
    assert.deepEqual(
      [c?.id, c?.name, c?.attempt, c?.state, c?.exitCode, c?.reason, c?.hash, c?.logPath, c?.imageRef !== ''],
      [container, 'web', 2, 'exited', 137, 'OOMKilled', 'h1', '/logs/u1/web/2.log', true],
    );
    assert.equal((c?.finishedAtMs ?? 0) - (c?.startedAtMs ?? 0), 5000);

    const statusCalls = rt.callsOf('containerStatus').length;
    const sandboxCalls = rt.callsOf('podSandboxStatus').length;
    await observer.observe('u1');
    assert.equal(rt.callsOf('containerStatus').length, statusCalls, 'an exited container is read once');
    assert.equal(rt.callsOf('podSandboxStatus').length, sandboxCalls, 'the IP of a ready sandbox is read once');
  });

  it('lists every managed object by id with its pod uid, and skips unmanaged ones', async () => {
    const rt = new FakeRuntime();
    rt.addImage('web:1');
    const a = await podWithContainer(rt, 'u1');
    await podWithContainer(rt, 'x', false);
    const objects = await listManaged(rt);
    assert.deepEqual(
      [...objects.entries()].sort(),
      [
        [a.sandbox, { podUid: 'u1', state: 'sandbox:ready' }],
        [a.container, { podUid: 'u1', state: 'container:created' }],
      ].sort(),
    );
  });
});

describe('FakeRuntime', () => {
  it('keeps the containers of a stopped sandbox until it is removed, and reserves names', async () => {
    const rt = new FakeRuntime();
    rt.addImage('web:1');
    const { sandbox, container } = await podWithContainer(rt, 'u1');
    const again = { metadata: { name: 'web', attempt: 2 }, image: { image: 'web:1' } };
    await assert.rejects(rt.createContainer(sandbox, again, {}), /is reserved/);
    await rt.startContainer(container);
    await assert.rejects(rt.removePodSandbox(sandbox), /not fully stopped/);
    await rt.stopPodSandbox(sandbox);
    const [c] = await rt.listContainers();
    assert.equal(c?.id, container);
    assert.equal(c?.state, 2, 'EXITED');
    await assert.rejects(
      rt.createContainer(sandbox, { metadata: { name: 'web', attempt: 3 }, image: { image: 'web:1' } }, {}),
      /not ready/,
    );
    await rt.removePodSandbox(sandbox);
    assert.deepEqual(await rt.listContainers(), []);
    await assert.rejects(rt.containerStatus(container), (err: Error & { notFound?: boolean }) => err.notFound === true);
  });
});
