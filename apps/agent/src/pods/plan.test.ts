import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, RestartPolicy } from '@tugboat/api';
import { backoffKey, RestartBackoff } from './backoff.ts';
import { planPod } from './plan.ts';
import type { PlanInput, StartFailure } from './plan.ts';
import type { ContainerRunState, ObservedContainer, ObservedSandbox } from './runtime.ts';

const UID = 'uid-1';

function pod(names: string[] = ['web'], restartPolicy: RestartPolicy = 'Always'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: UID },
    spec: { containers: names.map((name) => ({ name, image: 'img' })), restartPolicy },
  };
}

function sandbox(id: string, attempt: number, ready = true): ObservedSandbox {
  return {
    id,
    attempt,
    ready,
    createdAtMs: attempt * 1000,
    namespace: 'default',
    name: 'p',
    ip: ready ? '10.244.0.5' : '',
    additionalIps: [],
    graceSeconds: 30,
  };
}

function container(
  id: string,
  name: string,
  attempt: number,
  state: ContainerRunState,
  more: Partial<ObservedContainer> = {},
): ObservedContainer {
  return {
    id,
    sandboxId: 'sb0',
    name,
    attempt,
    state,
    createdAtMs: 1000 + attempt,
    startedAtMs: state === 'created' ? 0 : 2000,
    finishedAtMs: state === 'exited' ? 3000 : 0,
    exitCode: state === 'exited' ? 1 : 0,
    reason: state === 'exited' ? 'Error' : '',
    message: '',
    hash: 'h-web',
    image: 'img',
    imageRef: 'sha256:1',
    logPath: `/logs/${name}/${attempt}.log`,
    graceSeconds: 30,
    ...more,
  };
}

function input(
  p: Pod | undefined,
  sandboxes: ObservedSandbox[],
  containers: ObservedContainer[],
  more: Partial<PlanInput> = {},
): PlanInput {
  return {
    pod: p,
    observation: { uid: UID, sandboxes, containers },
    specHashes: new Map((p?.spec.containers ?? []).map((c) => [c.name, `h-${c.name}`])),
    backoff: new RestartBackoff(),
    startFailures: new Map(),
    livenessFailed: new Set(),
    graceSeconds: 30,
    nowMs: 10_000,
    ...more,
  };
}

const starts = (plan: ReturnType<typeof planPod>) => plan.startContainers.map((s) => `${s.name}#${s.attempt}`);

describe('planPod', () => {
  it('creates the sandbox and starts every container of a new pod, in spec order', () => {
    const plan = planPod(input(pod(['a', 'b']), [], []));
    assert.deepEqual(plan.createSandbox, { attempt: 0 });
    assert.deepEqual(starts(plan), ['a#0', 'b#0']);
    assert.deepEqual(plan.killContainers, []);
  });

  it('leaves a running pod alone', () => {
    const plan = planPod(input(pod(), [sandbox('sb0', 0)], [container('c1', 'web', 0, 'running')]));
    assert.equal(plan.createSandbox, undefined);
    assert.equal(plan.sandbox?.id, 'sb0');
    assert.deepEqual(
      [plan.killContainers, plan.startContainers, plan.removeContainers, plan.stopSandboxes, plan.removeSandboxes],
      [[], [], [], [], []],
    );
  });

  it('replaces a running container whose spec hash changed, at once and keeping it as the previous one', () => {
    const old = container('c2', 'web', 1, 'running', { hash: 'h-old' });
    const older = container('c1', 'web', 0, 'exited');
    const plan = planPod(input(pod(), [sandbox('sb0', 0)], [old, older]));
    assert.deepEqual(
      plan.killContainers.map((k) => [k.id, k.reason]),
      [['c2', 'container spec changed']],
    );
    assert.deepEqual(starts(plan), ['web#2']);
    assert.equal(plan.startContainers[0]?.restartOf, undefined, 'no back-off for a spec change');
    assert.deepEqual(plan.removeContainers, ['c1']);
  });

  it('stops a container whose liveness probe failed; the next sync restarts it even after exit 0 (OnFailure)', () => {
    const running = container('c1', 'web', 0, 'running');
    const first = planPod(input(pod(['web'], 'OnFailure'), [sandbox('sb0', 0)], [running], { livenessFailed: new Set(['c1']) }));
    assert.deepEqual(
      first.killContainers.map((k) => [k.id, k.reason, k.graceSeconds]),
      [['c1', 'liveness probe failed', 30]],
    );
    assert.deepEqual(first.startContainers, []);

    const exited = container('c1', 'web', 0, 'exited', { exitCode: 0, reason: 'Completed' });
    const second = planPod(input(pod(['web'], 'OnFailure'), [sandbox('sb0', 0)], [exited], { livenessFailed: new Set(['c1']) }));
    assert.deepEqual(starts(second), ['web#1']);
  });

  it('restarts an exited container at once the first time, then waits in CrashLoopBackOff', () => {
    const exited = container('c1', 'web', 3, 'exited');
    const fresh = planPod(input(pod(), [sandbox('sb0', 0)], [exited]));
    assert.deepEqual(starts(fresh), ['web#4']);
    assert.equal(fresh.startContainers[0]?.restartOf?.id, 'c1');

    const backoff = new RestartBackoff();
    backoff.recordRestart(backoffKey(UID, 'web'), { startedAtMs: 1, finishedAtMs: 2 });
    backoff.recordRestart(backoffKey(UID, 'web'), { startedAtMs: 1, finishedAtMs: 2 });
    const waiting = planPod(input(pod(), [sandbox('sb0', 0)], [exited], { backoff, nowMs: 5000 }));
    assert.deepEqual(waiting.startContainers, []);
    assert.deepEqual(waiting.waiting, [
      { name: 'web', reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=web pod=p_default(uid-1)' },
    ]);
    assert.equal(waiting.wakeAtMs, 3000 + 20_000);
    assert.deepEqual(waiting.stopSandboxes, [], 'a pod in back-off keeps its sandbox');

    const later = planPod(input(pod(), [sandbox('sb0', 0)], [exited], { backoff, nowMs: 23_000 }));
    assert.deepEqual(starts(later), ['web#4']);
  });

  it('follows the restart policy for exited containers', () => {
    const ok = container('c1', 'web', 0, 'exited', { exitCode: 0, reason: 'Completed' });
    const failed = container('c1', 'web', 0, 'exited', { exitCode: 2 });
    const cases: [RestartPolicy, ObservedContainer, string[]][] = [
      ['Always', ok, ['web#1']],
      ['OnFailure', ok, []],
      ['OnFailure', failed, ['web#1']],
      ['Never', failed, []],
    ];
    for (const [policy, c, want] of cases) {
      assert.deepEqual(starts(planPod(input(pod(['web'], policy), [sandbox('sb0', 0)], [c]))), want, `${policy} exit ${c.exitCode}`);
    }
  });

  it('stops the sandbox of a finished pod and keeps its containers', () => {
    const done = container('c1', 'web', 0, 'exited', { exitCode: 0 });
    const plan = planPod(input(pod(['web'], 'Never'), [sandbox('sb0', 0)], [done]));
    assert.deepEqual(plan.stopSandboxes, ['sb0']);
    assert.deepEqual(plan.removeSandboxes, []);
    assert.deepEqual(plan.removeContainers, []);

    const after = planPod(input(pod(['web'], 'Never'), [sandbox('sb0', 0, false)], [done]));
    assert.equal(after.createSandbox, undefined, 'a finished pod gets no new sandbox');
    assert.deepEqual([after.stopSandboxes, after.removeSandboxes, after.removeContainers], [[], [], []]);
  });

  it('keeps the newest container and the newest exited one before it, removing older ones', () => {
    const cs = [
      container('c4', 'web', 3, 'running'),
      container('c3', 'web', 2, 'exited'),
      container('c2', 'web', 1, 'exited'),
      container('c1', 'web', 0, 'created'),
    ];
    const plan = planPod(input(pod(), [sandbox('sb0', 0)], cs));
    assert.deepEqual(plan.removeContainers, ['c2', 'c1']);

    const crashing = [container('c3', 'web', 2, 'exited'), container('c2', 'web', 1, 'exited'), container('c1', 'web', 0, 'exited')];
    const backoff = new RestartBackoff();
    backoff.next(backoffKey(UID, 'web'));
    const waiting = planPod(input(pod(), [sandbox('sb0', 0)], crashing, { backoff, nowMs: 4000 }));
    assert.deepEqual(waiting.removeContainers, ['c1'], 'while waiting: the exited newest and the one before stay');

    const restart = planPod(input(pod(), [sandbox('sb0', 0)], crashing));
    assert.deepEqual(restart.removeContainers, ['c2', 'c1'], 'on restart the exited newest becomes the previous one');
  });

  it('makes a new sandbox when the old one died, and removes the old one once nothing kept lives in it', () => {
    const dead = sandbox('sb0', 0, false);
    const exited = container('c1', 'web', 0, 'exited', { exitCode: 255, reason: 'Unknown' });
    const plan = planPod(input(pod(), [dead], [exited]));
    assert.deepEqual(plan.createSandbox, { attempt: 1 });
    assert.deepEqual(starts(plan), ['web#1']);
    assert.deepEqual(plan.removeSandboxes, [], 'the old sandbox holds the previous container');

    const moved = [container('c2', 'web', 1, 'running', { sandboxId: 'sb1' })];
    const later = planPod(input(pod(), [sandbox('sb1', 1), dead], moved));
    assert.deepEqual(later.removeSandboxes, ['sb0']);
    assert.deepEqual(later.stopSandboxes, []);
  });

  it('stops every running container and makes a new sandbox when two are ready', () => {
    const cs = [container('c2', 'web', 1, 'running', { sandboxId: 'sb1' }), container('c1', 'web', 0, 'running')];
    const plan = planPod(input(pod(), [sandbox('sb1', 1), sandbox('sb0', 0)], cs));
    assert.deepEqual(
      plan.killContainers.map((k) => k.id),
      ['c2', 'c1'],
    );
    assert.deepEqual(plan.stopSandboxes, ['sb1', 'sb0']);
    assert.deepEqual(plan.createSandbox, { attempt: 2 });
    assert.deepEqual(starts(plan), ['web#2']);
  });

  it('gives a Never pod whose sandbox died no new sandbox', () => {
    const plan = planPod(input(pod(['web'], 'Never'), [sandbox('sb0', 0, false)], [container('c1', 'web', 0, 'exited')]));
    assert.equal(plan.createSandbox, undefined);
    assert.deepEqual(plan.startContainers, []);
  });

  it('waits for the retry time of a failed start, showing ImagePullBackOff after ErrImagePull', () => {
    const failures = new Map<string, StartFailure>([['web', { reason: 'ErrImagePull', message: 'no such image', retryAtMs: 15_000 }]]);
    const plan = planPod(input(pod(), [sandbox('sb0', 0)], [], { startFailures: failures }));
    assert.deepEqual(plan.waiting, [{ name: 'web', reason: 'ImagePullBackOff', message: 'no such image' }]);
    assert.equal(plan.wakeAtMs, 15_000);
    const retry = planPod(input(pod(), [sandbox('sb0', 0)], [], { startFailures: failures, nowMs: 15_000 }));
    assert.deepEqual(starts(retry), ['web#0']);
  });

  it('stops and removes containers whose name is not in the spec', () => {
    const cs = [container('c1', 'web', 0, 'running'), container('c2', 'old', 0, 'running'), container('c3', 'old', 0, 'exited')];
    const plan = planPod(input(pod(), [sandbox('sb0', 0)], cs));
    assert.deepEqual(
      plan.killContainers.map((k) => [k.id, k.reason]),
      [['c2', 'not in the pod spec']],
    );
    assert.deepEqual(plan.removeContainers, ['c3']);
  });

  it('removes everything of a pod that is no longer wanted', () => {
    const cs = [container('c2', 'web', 1, 'running', { sandboxId: 'sb1' }), container('c1', 'web', 0, 'exited')];
    const plan = planPod(input(undefined, [sandbox('sb1', 1), sandbox('sb0', 0, false)], cs, { graceSeconds: 5 }));
    assert.deepEqual(
      plan.killContainers.map((k) => [k.id, k.graceSeconds]),
      [['c2', 5]],
    );
    assert.deepEqual(plan.stopSandboxes, ['sb1']);
    assert.deepEqual(plan.removeContainers, ['c2', 'c1']);
    assert.deepEqual(plan.removeSandboxes, ['sb1', 'sb0']);
    assert.equal(plan.createSandbox, undefined);
  });
});
