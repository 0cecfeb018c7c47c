// manager.test.ts: PodManager against the in-memory FakeRuntime (CRI semantics), with fake
// volumes, config builders, prober and status writer.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Pod, PodStatus } from '@tugboat/api';
import { cri } from '@tugboat/proto';
import type { ProbeTarget } from '../probes/prober.ts';
import {
  CONTAINER_HASH_ANNOTATION,
  CONTAINER_NAME_LABEL,
  GRACE_PERIOD_ANNOTATION,
  MANAGED_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from '@tugboat/cri';
import { containerLogPath, podLogDir } from '../paths.ts';
import { isContainerNotFoundError } from '../server.ts';
import { FakeRuntime } from './fake-runtime.ts';
import { PodManager } from './manager.ts';
import type { ContainerSetup, PodManagerTiming, PodProber, PodVolumes } from './manager.ts';
import type { HookTarget, PodLifecycle } from './lifecycle.ts';
import type { LifecycleHandler } from '@tugboat/api';

function makePod(uid: string, more: { image?: string; restartPolicy?: Pod['spec']['restartPolicy']; grace?: number } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: {
      containers: [{ name: 'web', image: more.image ?? 'web:1', imagePullPolicy: 'IfNotPresent' }],
      restartPolicy: more.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: more.grace ?? 30,
    },
  };
}

/** setup builds CRI configs with the labels and annotations the real builders set. */
function fakeSetup(dataDir: string): ContainerSetup {
  const ids = (pod: Pod) => ({
    name: pod.metadata.name ?? '',
    namespace: pod.metadata.namespace ?? '',
    uid: pod.metadata.uid ?? '',
  });
  return {
    sandboxConfig: (pod, _settings, attempt) => ({
      metadata: { ...ids(pod), attempt },
      hostname: ids(pod).name,
      logDirectory: podLogDir(dataDir, ids(pod)),
      labels: {
        [MANAGED_LABEL]: 'true',
        [POD_UID_LABEL]: ids(pod).uid,
        [POD_NAME_LABEL]: ids(pod).name,
        [POD_NAMESPACE_LABEL]: ids(pod).namespace,
      },
      annotations: { [GRACE_PERIOD_ANNOTATION]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
    }),
    containerConfig: (pod, container, attempt, input) => ({
      metadata: { name: container.name, attempt },
      image: { image: container.image },
      envs: input.env,
      logPath: containerLogPath(container.name, attempt),
      labels: { [MANAGED_LABEL]: 'true', [POD_UID_LABEL]: ids(pod).uid, [CONTAINER_NAME_LABEL]: container.name },
      annotations: {
        [CONTAINER_HASH_ANNOTATION]: `hash-of-${container.image}`,
        [GRACE_PERIOD_ANNOTATION]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
      },
    }),
    containerHash: (container) => `hash-of-${container.image}`,
    containerMounts: () => [],
    resolveEnv: async (_pod, _container, _source, fields) => [{ key: 'POD_IP', value: fields.podIP }],
  };
}

class FakeProber implements PodProber {
  readonly running = new Map<string, readonly ProbeTarget[]>();
  readonly removed: string[] = [];
  update(pod: Pod, running: readonly ProbeTarget[]): void {
    this.running.set(pod.metadata.uid ?? '', running);
  }
  ready(): boolean {
    return true;
  }
  remove(podUid: string): void {
    this.removed.push(podUid);
  }
}

/** FakeLifecycle records drains and hooks in `events` (with the runtime's stop calls, in order). */
class FakeLifecycle implements PodLifecycle {
  readonly events: string[] = [];
  hookFails = false;
  hookMs = 0;
  async runHook(handler: LifecycleHandler, target: HookTarget, timeoutSeconds: number): Promise<{ ok: boolean; message: string }> {
    const kind = handler.exec !== undefined ? 'exec' : handler.httpGet !== undefined ? 'httpGet' : 'sleep';
    this.events.push(`hook ${kind} ${target.container.name} ${target.podIP} timeout ${timeoutSeconds}`);
    await new Promise((r) => setTimeout(r, this.hookMs));
    return this.hookFails ? { ok: false, message: 'command exited with 1' } : { ok: true, message: '' };
  }
  async drain(pod: Pod, podIP: string, timeoutMs: number): Promise<void> {
    this.events.push(`drain ${pod.metadata.name ?? ''} ${podIP} within ${timeoutMs > 0 ? 'grace' : '0'}`);
  }
}

class Harness {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'tug-pods-test-'));
  readonly runtime = new FakeRuntime();
  readonly prober = new FakeProber();
  readonly lifecycle = new FakeLifecycle();
  readonly written: { pod: Pod; status: PodStatus }[] = [];
  readonly tornDown: string[] = [];
  /** deleted: the pods podDeleter was called for, in order (also the failed calls). */
  readonly deleted: Pod[] = [];
  deleterDown = false;
  writerDown = false;
  /** writeGate: while set, status writes wait for it (a write under way). */
  writeGate: Promise<void> | undefined;
  writeAttempts = 0;
  readonly managers: PodManager[] = [];

  constructor() {
    this.runtime.addImage('web:1');
    this.runtime.addImage('web:2');
  }

  manager(timing: Partial<PodManagerTiming> = {}): PodManager {
    const volumes: PodVolumes = {
      setUp: async () => new Map(),
      tearDown: async (uid) => {
        this.tornDown.push(uid);
      },
      podUids: () => [],
    };
    const m = new PodManager({
      runtime: this.runtime,
      source: { configMap: async () => undefined, secret: async () => undefined },
      statusWriter: async (pod, status) => {
        this.writeAttempts++;
        await this.writeGate;
        if (this.writerDown) throw new Error('control plane unreachable');
        this.written.push({ pod, status: structuredClone(status) });
      },
      podDeleter: async (pod) => {
        this.deleted.push(pod);
        if (this.deleterDown) throw new Error('control plane unreachable');
      },
      prober: this.prober,
      lifecycle: this.lifecycle,
      settings: { dataDir: this.dataDir, cgroupParent: '/tugboat', nodeName: 'n1', nodeIP: '192.168.50.2' },
      log: pino({ level: 'silent' }),
      backoff: { initialMs: 150, maxMs: 600 },
      timing: { tickMs: 10, resyncMs: 60_000, retryMs: 30, volumeRefreshMs: 60_000, ...timing },
      volumes,
      setup: fakeSetup(this.dataDir),
    });
    this.managers.push(m);
    return m;
  }

  /** lastStatus is the last status written for a pod uid. */
  lastStatus(uid: string): PodStatus | undefined {
    return this.written.filter((w) => w.pod.metadata.uid === uid).at(-1)?.status;
  }

  async containers(state?: cri.ContainerState): Promise<cri.Container[]> {
    const all = await this.runtime.listContainers();
    return state === undefined ? all : all.filter((c) => c.state === state);
  }

  async cleanup(): Promise<void> {
    for (const m of this.managers) await m.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const running = cri.ContainerState.CONTAINER_RUNNING;

describe('PodManager', () => {
  let h: Harness;
  afterEach(async () => {
    await h.cleanup();
  });

  it('starts a new pod and reports it Running with its IP', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    const status = await waitFor('Running status', () => {
      const s = h.lastStatus('u1');
      return s?.phase === 'Running' && s.containerStatuses?.[0]?.ready === true ? s : undefined;
    });
    const [c] = await h.containers(running);
    assert.ok(c !== undefined);
    assert.equal(status.podIP, '10.244.0.2');
    assert.equal(status.hostIP, '192.168.50.2');
    assert.equal(status.containerStatuses?.[0]?.containerID, `containerd://${c.id}`);
    assert.equal(status.containerStatuses?.[0]?.restartCount, 0);
    assert.equal(m.podIP('u1'), '10.244.0.2');
    assert.deepEqual(
      h.prober.running.get('u1')?.map((t) => [t.containerName, t.containerId, t.podIP]),
      [['web', c.id, '10.244.0.2']],
    );
    const found = await m.find('default', 'pod-u1', '', false);
    assert.equal(found.containerId, c.id);
    assert.equal(found.running, true);
    assert.equal(found.logPath, join(podLogDir(h.dataDir, { namespace: 'default', name: 'pod-u1', uid: 'u1' }), 'web/0.log'));
    await assert.rejects(m.find('default', 'pod-u1', 'web', true), (err) => isContainerNotFoundError(err) && /no previous instance/.test(err.message));
    await assert.rejects(m.find('default', 'nope', '', false), /not on this node/);
  });

  it('adopts running containers after a restart without restarting them, and writes no new status', async () => {
    h = new Harness();
    const first = h.manager();
    await first.start();
    const pod = makePod('u1');
    first.setPods([pod]);
    const status = await waitFor('Running', () => (h.lastStatus('u1')?.containerStatuses?.[0]?.ready === true ? h.lastStatus('u1') : undefined));
    await first.stop();
    const [before] = await h.containers(running);
    assert.ok(before !== undefined, 'the container keeps running when the manager stops');

    const callsBefore = h.runtime.calls.length;
    const writesBefore = h.written.length;
    const second = h.manager();
    await second.start();
    second.setPods([{ ...pod, status }]);
    await new Promise((r) => setTimeout(r, 300));
    const mutating = h.runtime.calls
      .slice(callsBefore)
      .filter((c) => !['listPodSandbox', 'listContainers', 'containerStatus', 'podSandboxStatus'].includes(c.method));
    assert.deepEqual(mutating, [], 'the adopted pod is left alone');
    assert.deepEqual((await h.containers(running)).map((c) => c.id), [before.id]);
    assert.equal(h.written.length, writesBefore, 'the status in the API is already right');
    assert.equal(second.podIP('u1'), '10.244.0.2');
  });

  /**
   * readyPod starts pod u1 and waits for its Ready status: `ready`, and `marked` as the node
   * lifecycle controller marks the pods of a NotReady node; `seen` hands the manager the API's
   * version `rv` of the pod with a status.
   */
  async function readyPod(): Promise<{ ready: PodStatus; marked: PodStatus; seen: (rv: string, status: PodStatus) => void }> {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1');
    m.setPods([pod]);
    const ready = await waitFor('Ready', () => (h.lastStatus('u1')?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? h.lastStatus('u1') : undefined));
    const marked = {
      ...ready,
      conditions: (ready.conditions ?? []).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' as const, reason: 'NodeNotReady' } : c)),
    };
    const seen = (rv: string, status: PodStatus): void => m.setPods([{ ...pod, metadata: { ...pod.metadata, resourceVersion: rv }, status }]);
    return { ready, marked, seen };
  }

  it('writes its status again when another writer changed it (a pod marked not Ready while its node was unreachable)', async () => {
    const { ready, marked, seen } = await readyPod();
    const writes = h.written.length;
    seen('7', ready);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(h.written.length, writes, 'its own status coming back is no reason to write');
    seen('8', marked);
    const again = await waitFor('Ready written again', () => (h.written.length > writes ? h.lastStatus('u1') : undefined));
    assert.equal(again.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('writes its status again when another writer changed it while a write was under way', async () => {
    const { ready, marked, seen } = await readyPod();
    let open = (): void => {};
    h.writeGate = new Promise((r) => {
      open = r;
    });
    const attempts = h.writeAttempts;
    seen('8', marked);
    await waitFor('a write under way', () => h.writeAttempts > attempts);
    // While it is under way: the write lands (its echo), then the pod is marked again.
    seen('9', ready);
    seen('10', marked);
    const writes = h.written.length;
    h.writeGate = undefined;
    open();
    await waitFor('Ready written once more', () => h.written.length >= writes + 2);
    assert.equal(h.lastStatus('u1')?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('removes adopted pods only after the first setPods, and never touches unmanaged sandboxes', async () => {
    h = new Harness();
    const first = h.manager();
    await first.start();
    first.setPods([makePod('u1'), makePod('u2')]);
    await waitFor('two running containers', async () => (await h.containers(running)).length === 2);
    await first.stop();
    const foreign = await h.runtime.runPodSandbox({ metadata: { name: 'other', namespace: 'x', uid: 'zz', attempt: 0 } });

    const second = h.manager();
    await second.start();
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await h.containers(running)).length, 2, 'nothing removed before the desired set is known');
    second.setPods([makePod('u1')]);
    await waitFor('u2 gone', async () => (await h.runtime.listPodSandbox()).length === 2);
    const left = await h.runtime.listPodSandbox();
    assert.deepEqual(left.map((s) => s.metadata?.uid).sort(), ['u1', 'zz']);
    assert.equal(left.find((s) => s.id === foreign)?.state, cri.PodSandboxState.SANDBOX_READY);
  });

  it('restarts a crashing container with back-off and a rising restart count', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    const c0 = await waitFor('first container', async () => (await h.containers(running))[0]);

    h.runtime.exit(c0.id, 1);
    const c1 = await waitFor('restart at once', async () => (await h.containers(running)).find((c) => c.metadata?.attempt === 1));
    await waitFor('restartCount 1', () => h.lastStatus('u1')?.containerStatuses?.[0]?.restartCount === 1);

    const exitedAt = Date.now();
    h.runtime.exit(c1.id, 2);
    const waiting = await waitFor('CrashLoopBackOff', () => {
      const s = h.lastStatus('u1')?.containerStatuses?.[0];
      return s?.state?.waiting?.reason === 'CrashLoopBackOff' ? s : undefined;
    });
    assert.match(waiting.state?.waiting?.message ?? '', /^back-off 150ms restarting failed container=web pod=pod-u1_default\(u1\)$/);
    assert.equal(waiting.lastState?.terminated?.exitCode, 2);
    assert.equal(h.lastStatus('u1')?.phase, 'Running');

    const c2 = await waitFor('restart after the back-off', async () => (await h.containers(running)).find((c) => c.metadata?.attempt === 2));
    assert.ok(Date.now() - exitedAt >= 140, 'the second restart waited for the back-off');
    await waitFor('restartCount 2', () => h.lastStatus('u1')?.containerStatuses?.[0]?.restartCount === 2);
    const ids = (await h.containers()).map((c) => c.id).sort();
    assert.deepEqual(ids, [c1.id, c2.id].sort(), 'the newest and the previous container are kept, older ones removed');
    const previous = await m.find('default', 'pod-u1', 'web', true);
    assert.equal(previous.containerId, c1.id);
  });

  it('reports OOMKilled and leaves a Never pod that failed as it is', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1', { restartPolicy: 'Never' })]);
    const c0 = await waitFor('container', async () => (await h.containers(running))[0]);
    h.runtime.exit(c0.id, 137, 'OOMKilled');
    const status = await waitFor('Failed', () => (h.lastStatus('u1')?.phase === 'Failed' ? h.lastStatus('u1') : undefined));
    assert.deepEqual(
      [status.containerStatuses?.[0]?.state?.terminated?.reason, status.containerStatuses?.[0]?.state?.terminated?.exitCode],
      ['OOMKilled', 137],
    );
    assert.equal(status.podIP, '10.244.0.2', 'the IP stays in the status after the sandbox stopped');
    await waitFor('sandbox stopped', async () => (await h.runtime.listPodSandbox())[0]?.state === cri.PodSandboxState.SANDBOX_NOTREADY);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.containers()).length, 1, 'the container is kept, not restarted');
    assert.equal(h.runtime.callsOf('runPodSandbox').length, 1, 'no new sandbox for a finished pod');
  });

  it('stops and removes everything of a deleted pod', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1', { grace: 7 }), makePod('u2')]);
    const c = await waitFor('u1 container', async () => (await h.containers(running)).find((x) => x.labels[POD_UID_LABEL] === 'u1'));
    const logDir = podLogDir(h.dataDir, { namespace: 'default', name: 'pod-u1', uid: 'u1' });
    mkdirSync(join(logDir, 'web'), { recursive: true });
    writeFileSync(join(logDir, 'web', '0.log'), 'x\n');

    m.setPods([makePod('u2')]);
    await waitFor('u1 removed', async () => h.prober.removed.includes('u1'));
    assert.deepEqual(h.runtime.callsOf('stopContainer'), [`${c.id}:7`], 'stopped with the pod grace period');
    const sandboxes = await h.runtime.listPodSandbox();
    assert.deepEqual(sandboxes.map((s) => s.metadata?.uid), ['u2']);
    assert.ok((await h.containers()).every((x) => x.labels[POD_UID_LABEL] === 'u2'));
    assert.ok(h.runtime.callsOf('stopPodSandbox').length === 1, 'the sandbox was stopped (its IP freed) before removal');
    assert.deepEqual(h.tornDown, ['u1']);
    assert.equal(existsSync(logDir), false, 'the log directory is gone');
    await assert.rejects(m.find('default', 'pod-u1', '', false), /not on this node/);
  });

  it('keeps pods running and restarting while the status writer fails, and writes once it is back', async () => {
    h = new Harness();
    h.writerDown = true;
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    const c0 = await waitFor('container', async () => (await h.containers(running))[0]);
    h.runtime.exit(c0.id, 1);
    await waitFor('restarted', async () => (await h.containers(running)).find((c) => c.metadata?.attempt === 1));
    assert.ok(h.writeAttempts >= 1);
    assert.equal(h.written.length, 0);
    h.writerDown = false;
    const status = await waitFor('status written', () => h.lastStatus('u1'));
    assert.equal(status.phase, 'Running');
    assert.equal(status.containerStatuses?.[0]?.restartCount, 1);
  });

  it('recreates a container whose image changed', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1');
    m.setPods([pod]);
    const c0 = await waitFor('container', async () => (await h.containers(running))[0]);
    m.setPods([{ ...makePod('u1', { image: 'web:2' }), metadata: { ...pod.metadata, resourceVersion: '2' } }]);
    const c1 = await waitFor('new container', async () => (await h.containers(running)).find((c) => c.image?.image === 'web:2'));
    assert.equal(c1.metadata?.attempt, 1);
    assert.ok(h.runtime.callsOf('stopContainer').some((a) => a.startsWith(c0.id)));
    const status = await waitFor('status of the new image', () => {
      const s = h.lastStatus('u1')?.containerStatuses?.[0];
      return s?.image === 'web:2' && s.state?.running !== undefined ? s : undefined;
    });
    assert.equal(status.containerID, `containerd://${c1.id}`);
    assert.equal(h.runtime.callsOf('runPodSandbox').length, 1, 'the sandbox stays');
  });

  it('kills a container whose liveness probe failed and restarts it', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1', { grace: 3 })]);
    const c0 = await waitFor('container', async () => (await h.containers(running))[0]);
    const target = h.prober.running.get('u1')?.[0];
    assert.ok(target !== undefined);
    m.livenessFailed(target, 'HTTP probe failed with statuscode: 500');
    const c1 = await waitFor('restarted', async () => (await h.containers(running)).find((c) => c.metadata?.attempt === 1));
    assert.notEqual(c1.id, c0.id);
    assert.deepEqual(h.runtime.callsOf('stopContainer'), [`${c0.id}:3`]);
    const status = await waitFor('lastState', () => h.lastStatus('u1')?.containerStatuses?.[0]?.lastState?.terminated);
    assert.equal(status.exitCode, 137);
  });

  it('makes a new sandbox with the next attempt when the old one died', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    await waitFor('container', async () => (await h.containers(running))[0]);
    const [old] = await h.runtime.listPodSandbox();
    assert.ok(old !== undefined);
    h.runtime.crashSandbox(old.id);
    const fresh = await waitFor('new sandbox', async () => (await h.runtime.listPodSandbox()).find((s) => s.metadata?.attempt === 1));
    const c1 = await waitFor('container in the new sandbox', async () => (await h.containers(running)).find((c) => c.podSandboxId === fresh.id));
    assert.equal(c1.metadata?.attempt, 1);
    const status = await waitFor('new IP', () => (h.lastStatus('u1')?.podIP === '10.244.0.3' ? h.lastStatus('u1') : undefined));
    assert.equal(status.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 255);
  });

  it('reports ErrImagePull, then ImagePullBackOff, and starts once the image can be pulled', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1', { image: 'missing:1' });
    m.setPods([pod]);
    const reasons = () => h.written.map((w) => w.status.containerStatuses?.[0]?.state?.waiting?.reason);
    await waitFor('ErrImagePull', () => reasons().includes('ErrImagePull'));
    const backoff = await waitFor('ImagePullBackOff', () => {
      const w = h.lastStatus('u1')?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'ImagePullBackOff' ? w : undefined;
    });
    assert.match(backoff.message ?? '', /pod default\/pod-u1 container web: failed to pull image "missing:1"/);
    assert.ok(reasons().indexOf('ErrImagePull') < reasons().indexOf('ImagePullBackOff'));
    assert.equal(h.lastStatus('u1')?.phase, 'Pending');
    h.runtime.pullable.set('missing:1', 'sha256:feed');
    await waitFor('running', async () => (await h.containers(running)).length === 1, 5000);
  });

  it('retries a sandbox that failed to start, then stops a terminating pod with its grace and deletes it for good', async () => {
    h = new Harness();
    h.runtime.failNext('runPodSandbox', new Error('failed to setup network for sandbox: no CNI config'));
    const m = h.manager();
    await m.start();
    const pod = makePod('u1');
    m.setPods([pod]);
    await waitFor('ContainerCreating', () => h.lastStatus('u1')?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating');
    assert.match(h.lastStatus('u1')?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /the pod sandbox failed to start: .*no CNI config/);
    await waitFor('running after the retry', async () => (await h.containers(running)).length === 1);
    assert.equal(h.runtime.callsOf('runPodSandbox').length, 2);

    const writes = h.written.length;
    const deadline = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const terminating = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: deadline, deletionGracePeriodSeconds: 1 } };
    h.deleterDown = true;
    m.setPods([terminating]);
    await waitFor('removed', async () => (await h.runtime.listPodSandbox()).length === 0);
    assert.deepEqual(h.runtime.callsOf('stopContainer').map((a) => a.split(':')[1]), ['1']);
    await waitFor('the final delete retried', () => h.deleted.length >= 2);
    h.deleterDown = false;
    await waitFor('deleted for good', () => h.deleted.length >= 3);
    assert.ok(h.deleted.every((p) => p.metadata.uid === 'u1' && p.metadata.name === 'pod-u1'));
    await new Promise((r) => setTimeout(r, 250));
    const calls = h.deleted.length;
    m.resync('u1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(h.deleted.length, calls, 'deleted once it succeeded, though the pod is still listed');
    assert.equal(h.written.length, writes, 'no status for a pod being deleted');
    assert.deepEqual(h.tornDown, ['u1'], 'torn down once, though the pod is still listed');
    // Gone from the list: forgotten.
    m.setPods([]);
    await waitFor('forgotten', () =>
      m.find('default', 'pod-u1', '', false).then(
        () => false,
        (err: unknown) => /not on this node/.test((err as Error).message),
      ),
    );
  });

  it('kills a terminating pod whose deletion time has passed at once', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1', { grace: 30 });
    m.setPods([pod]);
    await waitFor('running', async () => (await h.containers(running)).length === 1);
    m.setPods([{ ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2024-01-02T15:04:05Z', deletionGracePeriodSeconds: 30 } }]);
    await waitFor('deleted for good', () => h.deleted.length === 1);
    assert.deepEqual(h.runtime.callsOf('stopContainer').map((a) => a.split(':')[1]), ['0']);
    assert.equal((await h.runtime.listPodSandbox()).length, 0);
    assert.equal((await h.containers()).length, 0);
  });

  it('stops a terminating pod in order: traffic drained away, preStop within the grace, then the stop signal with what is left', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1', { grace: 10 });
    pod.spec.containers[0]!.lifecycle = { preStop: { exec: { command: ['/bin/drain'] } } };
    m.setPods([pod]);
    await waitFor('running', async () => (await h.containers(running)).length === 1);
    h.lifecycle.hookMs = 1100;
    const deadline = new Date(Date.now() + 10_000).toISOString().replace(/\.\d+Z$/, 'Z');
    m.setPods([{ ...pod, metadata: { ...pod.metadata, deletionTimestamp: deadline, deletionGracePeriodSeconds: 10 } }]);
    await waitFor('deleted for good', () => h.deleted.length === 1);
    assert.deepEqual(h.lifecycle.events, ['drain pod-u1 10.244.0.2 within grace', 'hook exec web 10.244.0.2 timeout 10']);
    const [grace] = h.runtime.callsOf('stopContainer').map((a) => Number(a.split(':')[1]));
    assert.ok(grace !== undefined && grace >= 7 && grace <= 9, `the stop signal gets what the hook left of the grace (got ${grace})`);
  });

  it('runs postStart after a start; a failed postStart kills the container and says why in its status', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1');
    pod.spec.containers[0]!.lifecycle = { postStart: { httpGet: { port: 8080, path: '/warm' } } };
    h.lifecycle.hookFails = true;
    m.setPods([pod]);
    const w = await waitFor('PostStartHookError', () => h.lastStatus('u1')?.containerStatuses?.[0]?.state?.waiting);
    assert.equal(w.reason, 'PostStartHookError');
    assert.match(w.message ?? '', /postStart hook failed: command exited with 1/);
    assert.deepEqual(h.runtime.callsOf('stopContainer').map((a) => a.split(':')[1]), ['0'], 'killed at once');
    assert.deepEqual(h.lifecycle.events, ['hook httpGet web 10.244.0.2 timeout 30']);
    h.lifecycle.hookFails = false;
    await waitFor('running once the hook passes', async () => (await h.containers(running)).length === 1, 10_000);
  });

  it('does not delete a pod that is gone rather than terminating', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    await waitFor('running', async () => (await h.containers(running)).length === 1);
    m.setPods([]);
    await waitFor('removed', async () => (await h.runtime.listPodSandbox()).length === 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(h.deleted.length, 0);
  });

  it('reports ErrImageNeverPull for a missing image with pull policy Never', async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    const pod = makePod('u1', { image: 'absent:1' });
    const web = pod.spec.containers[0];
    assert.ok(web !== undefined);
    web.imagePullPolicy = 'Never';
    m.setPods([pod]);
    const w = await waitFor('ErrImageNeverPull', () => h.lastStatus('u1')?.containerStatuses?.[0]?.state?.waiting);
    assert.equal(w.reason, 'ErrImageNeverPull');
    assert.equal(h.runtime.callsOf('pullImage').length, 0);
  });
});

describe('PodManager and the runtime: relists and exit events', () => {
  let h: Harness;
  afterEach(async () => {
    await h.cleanup();
  });
  /** observes counts the runtime reads of one pod (each sync observes once or twice). */
  const observes = (uid: string): number => h.runtime.callsOf('listContainers').filter((a) => a === uid).length;
  /** relists counts the lists of every managed object. */
  const relists = (): number => h.runtime.callsOf('listContainers').filter((a) => a === '').length;

  it("does not sync a pod again for the sandbox and container its own sync made", async () => {
    h = new Harness();
    const m = h.manager();
    await m.start();
    m.setPods([makePod('u1')]);
    await waitFor('Running', () => h.lastStatus('u1')?.phase === 'Running');
    const ticks = relists();
    await waitFor('ten relists more', () => relists() >= ticks + 10);
    assert.equal(observes('u1'), 2, 'one sync: observed before acting and after');
  });

  it('relists every tick only while runtime events are down, and once each time they come up', async () => {
    h = new Harness();
    const m = h.manager({ relistMs: 60_000 });
    await m.start();
    const adopted = relists();
    m.runtimeEventsLive(true);
    await waitFor('the relist after the events came up', () => relists() >= adopted + 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(relists(), adopted + 1, 'no relist per tick while events come');
    m.runtimeEventsLive(false);
    await waitFor('relists per tick again', () => relists() >= adopted + 6);
  });

  it('syncs a pod at once on an exit event, and looks again while the runtime still shows it running', async () => {
    h = new Harness();
    const m = h.manager({ tickMs: 60_000 });
    await m.start();
    m.runtimeEventsLive(true);
    m.setPods([makePod('u1')]);
    await waitFor('Running', () => h.lastStatus('u1')?.phase === 'Running');
    const [c] = await h.containers(running);
    assert.ok(c !== undefined);
    // containerd publishes the exit before its CRI plugin shows it.
    m.runtimeExit(c.id);
    await new Promise((r) => setTimeout(r, 150));
    h.runtime.exit(c.id, 3);
    const status = await waitFor('the restart, with no tick or resync', () => {
      const s = h.lastStatus('u1')?.containerStatuses?.[0];
      return s?.restartCount === 1 && s.state?.running !== undefined ? s : undefined;
    });
    assert.equal(status.lastState?.terminated?.exitCode, 3);
  });

  it('ignores exit events of what it saw end already, and relists for one it does not know', async () => {
    h = new Harness();
    const m = h.manager({ tickMs: 20, relistMs: 60_000 });
    await m.start();
    m.runtimeEventsLive(true);
    m.setPods([makePod('u1', { restartPolicy: 'Never' })]);
    await waitFor('Running', () => h.lastStatus('u1')?.phase === 'Running');
    const [c] = await h.containers(running);
    assert.ok(c !== undefined);
    h.runtime.exit(c.id, 0);
    m.runtimeExit(c.id);
    await waitFor('Succeeded', () => h.lastStatus('u1')?.phase === 'Succeeded');
    await new Promise((r) => setTimeout(r, 100));
    const seen = observes('u1');
    const relisted = relists();
    m.runtimeExit(c.id);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(observes('u1'), seen, 'an exit already observed wakes nothing');
    m.runtimeExit('not-a-known-id');
    await waitFor('a relist', () => relists() > relisted);
  });
});
