import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodStatus, RestartPolicy } from '@tugboat/api';
import type { ContainerRunState, ObservedContainer, ObservedSandbox } from './runtime.ts';
import { formatTime, podStatus, statusKey } from './status.ts';
import type { StatusInput, WaitingReason } from './status.ts';

const T0 = Date.UTC(2024, 0, 2, 15, 4, 5);

function pod(names: string[] = ['web'], restartPolicy: RestartPolicy = 'Always', status?: PodStatus): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: { containers: names.map((name) => ({ name, image: `${name}:1` })), restartPolicy },
  };
  if (status !== undefined) p.status = status;
  return p;
}

const sandbox = (ready = true): ObservedSandbox => ({
  id: 'sb0',
  attempt: 0,
  ready,
  createdAtMs: T0,
  namespace: 'default',
  name: 'p',
  ip: ready ? '10.244.1.7' : '',
  additionalIps: [],
  graceSeconds: 30,
});

function container(id: string, name: string, attempt: number, state: ContainerRunState, more: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id,
    sandboxId: 'sb0',
    name,
    attempt,
    state,
    createdAtMs: T0 + attempt * 10_000,
    startedAtMs: state === 'created' ? 0 : T0 + attempt * 10_000 + 1000,
    finishedAtMs: state === 'exited' ? T0 + attempt * 10_000 + 5000 : 0,
    exitCode: 0,
    reason: state === 'exited' ? 'Completed' : '',
    message: '',
    hash: 'h',
    image: `${name}:1`,
    imageRef: 'sha256:abc',
    logPath: '/logs/x.log',
    graceSeconds: 30,
    ...more,
  };
}

function input(p: Pod, containers: ObservedContainer[], more: Partial<StatusInput> = {}): StatusInput {
  return {
    pod: p,
    observation: { uid: 'uid-1', sandboxes: [sandbox()], containers },
    waiting: new Map<string, WaitingReason>(),
    ready: () => true,
    hostIP: '192.168.50.2',
    previous: p.status,
    nowMs: T0 + 60_000,
    ...more,
  };
}

describe('podStatus', () => {
  it('reports a running pod: phase, IPs, conditions, container state and ids', () => {
    const s = podStatus(input(pod(), [container('abc', 'web', 0, 'running')]));
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '10.244.1.7');
    assert.deepEqual(s.podIPs, [{ ip: '10.244.1.7' }]);
    assert.equal(s.hostIP, '192.168.50.2');
    assert.equal(s.startTime, '2024-01-02T15:05:05Z');
    assert.equal(s.qosClass, 'BestEffort');
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status]),
      [
        ['Initialized', 'True'],
        ['Ready', 'True'],
        ['ContainersReady', 'True'],
        ['PodScheduled', 'True'],
      ],
    );
    assert.deepEqual(s.containerStatuses, [
      {
        name: 'web',
        state: { running: { startedAt: '2024-01-02T15:04:06Z' } },
        lastState: {},
        ready: true,
        restartCount: 0,
        image: 'web:1',
        imageID: 'sha256:abc',
        containerID: 'containerd://abc',
        started: true,
      },
    ]);
  });

  it('shows ContainerCreating and Pending before a container exists', () => {
    const s = podStatus(input(pod(), []));
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'ContainerCreating' } });
    assert.equal(s.containerStatuses?.[0]?.containerID, undefined);
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual([ready?.status, ready?.reason, ready?.message], ['False', 'ContainersNotReady', 'containers with unready status: [web]']);
  });

  it('shows CrashLoopBackOff with the last termination and the restart count', () => {
    const exited = container('c3', 'web', 3, 'exited', { exitCode: 1, reason: 'Error' });
    const waiting = new Map([['web', { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=web pod=p_default(uid-1)' }]]);
    const s = podStatus(input(pod(), [exited], { waiting }));
    const c = s.containerStatuses?.[0];
    assert.equal(s.phase, 'Running', 'a crash-looping Always pod is Running');
    assert.equal(c?.state?.waiting?.reason, 'CrashLoopBackOff');
    assert.equal(c?.restartCount, 3);
    assert.deepEqual(c?.lastState?.terminated, {
      exitCode: 1,
      reason: 'Error',
      startedAt: '2024-01-02T15:04:36Z',
      finishedAt: '2024-01-02T15:04:40Z',
      containerID: 'containerd://c3',
    });
    assert.equal(c?.ready, false);
  });

  it('reports OOMKilled from the runtime and the previous run as lastState', () => {
    const now = container('c2', 'web', 1, 'running');
    const before = container('c1', 'web', 0, 'exited', { exitCode: 137, reason: 'OOMKilled' });
    const s = podStatus(input(pod(), [now, before]));
    assert.equal(s.containerStatuses?.[0]?.lastState?.terminated?.reason, 'OOMKilled');
    assert.equal(s.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137);
    assert.equal(s.containerStatuses?.[0]?.restartCount, 1);
  });

  it('gives Succeeded and Failed by exit codes when nothing will restart', () => {
    const ok = container('c1', 'web', 0, 'exited');
    const bad = container('c2', 'side', 0, 'exited', { exitCode: 3, reason: 'Error' });
    assert.equal(podStatus(input(pod(['web'], 'Never'), [ok])).phase, 'Succeeded');
    assert.equal(podStatus(input(pod(['web', 'side'], 'Never'), [ok, bad])).phase, 'Failed');
    const done = podStatus(input(pod(['web'], 'OnFailure'), [ok]));
    assert.equal(done.phase, 'Succeeded');
    assert.equal(done.conditions?.find((c) => c.type === 'Ready')?.reason, 'PodCompleted');
    assert.deepEqual(done.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  });

  it('is Pending while one container runs and another is being created', () => {
    const s = podStatus(input(pod(['a', 'b']), [container('c1', 'a', 0, 'running')]));
    assert.equal(s.phase, 'Pending');
  });

  it('shows the failure of a start as the waiting reason', () => {
    const waiting = new Map([['web', { reason: 'CreateContainerConfigError', message: 'configmap "default/cfg" not found' }]]);
    const s = podStatus(input(pod(), [], { waiting }));
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: waiting.get('web') });
  });

  it('takes readiness from the prober', () => {
    const s = podStatus(input(pod(['a', 'b']), [container('c1', 'a', 0, 'running'), container('c2', 'b', 0, 'running')], { ready: (name) => name === 'a' }));
    assert.deepEqual(
      s.containerStatuses?.map((c) => c.ready),
      [true, false],
    );
    assert.equal(s.conditions?.find((c) => c.type === 'ContainersReady')?.message, 'containers with unready status: [b]');
  });

  it('keeps transition times, start time and the pod IP from the previous status: no churn', () => {
    const first = podStatus(input(pod(), [container('c1', 'web', 0, 'running')]));
    const again = podStatus(input(pod(), [container('c1', 'web', 0, 'running')], { previous: first, nowMs: T0 + 999_000 }));
    assert.equal(statusKey(again), statusKey(first));

    const notReady = podStatus(input(pod(), [container('c1', 'web', 0, 'running')], { previous: first, ready: () => false, nowMs: T0 + 120_000 }));
    const ready = notReady.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.lastTransitionTime, formatTime(T0 + 120_000));
    assert.equal(notReady.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime, formatTime(T0 + 60_000));

    const stopped = podStatus(
      input(pod(['web'], 'Never'), [container('c1', 'web', 0, 'exited')], {
        previous: first,
        observation: { uid: 'uid-1', sandboxes: [sandbox(false)], containers: [container('c1', 'web', 0, 'exited')] },
      }),
    );
    assert.equal(stopped.podIP, '10.244.1.7', 'a stopped sandbox keeps the reported IP');
  });

  it('derives the QoS class from requests and limits', () => {
    const p = pod(['a']);
    const a = p.spec.containers[0];
    assert.ok(a !== undefined);
    a.resources = { limits: { cpu: '500m', memory: '64Mi' } };
    assert.equal(podStatus(input(p, [])).qosClass, 'Guaranteed');
    a.resources = { requests: { cpu: '100m' } };
    assert.equal(podStatus(input(p, [])).qosClass, 'Burstable');
  });

  it('writes times in whole seconds, UTC', () => {
    assert.equal(formatTime(T0 + 999), '2024-01-02T15:04:05Z');
  });

  it('keys statuses independently of key order', () => {
    assert.equal(statusKey({ phase: 'Running', hostIP: 'x' }), statusKey({ hostIP: 'x', phase: 'Running' }));
    assert.notEqual(statusKey({ phase: 'Running' }), statusKey({ phase: 'Pending' }));
  });
});
