// plan.ts: what one sync of a pod does, decided from the desired pod and what the runtime has
// (pure; the manager carries the plan out). The rules follow the kubelet's:
//
// - The pod runs in its newest sandbox while that one is ready. No sandbox, a newest one that
//   is not ready (its network is gone, e.g. after a reboot), more than one ready, or a running
//   container outside the newest: every running container is stopped and a sandbox with the
//   next attempt number is made, unless the pod is done (restartPolicy Never and it has run).
// - A container with no container yet is started (attempt 0). A running one is kept, unless its
//   spec hash changed (stopped and started again at once) or its liveness probe failed
//   (stopped; the next sync restarts it by the restart policy). An exited one is restarted by
//   the restart policy (Always; OnFailure when the exit code is not 0 or liveness killed it)
//   once its back-off has passed; until then it waits in CrashLoopBackOff.
// - Per container name the newest container and the newest exited one before it are kept (the
//   status's state and lastState, and `tug logs --previous`); older dead ones are removed.
//   Containers whose name is not in the spec are stopped and removed.
// - A pod where nothing runs and nothing will start again has its sandbox stopped (its IP is
//   freed); its containers stay. Sandboxes other than the one in use are stopped and, once no
//   kept container lives in them, removed.
// - A pod that is no longer wanted is stopped and everything of it removed.
import type { Container, Pod } from '@tugboat/api';
import { backoffKey, formatDuration } from './backoff.ts';
import type { BackoffView } from './backoff.ts';
import type { ObservedContainer, ObservedSandbox, PodObservation } from './runtime.ts';

/** StartFailure is the last failed attempt to start a container, and when to try again. */
export interface StartFailure {
  /** reason is the waiting reason: ErrImagePull, ErrImageNeverPull, CreateContainerConfigError,
   *  CreateContainerError, RunContainerError. */
  reason: string;
  message: string;
  retryAtMs: number;
}

export interface PlanInput {
  /** pod is the desired pod; undefined when the pod is to go (deleted, or its uid replaced). */
  pod: Pod | undefined;
  observation: PodObservation;
  /** specHashes maps each spec container's name to its containerHash. */
  specHashes: ReadonlyMap<string, string>;
  backoff: BackoffView;
  /** startFailures maps container names to their last failure to start. */
  startFailures: ReadonlyMap<string, StartFailure>;
  /** livenessFailed holds the ids of containers whose liveness probe failed. */
  livenessFailed: ReadonlySet<string>;
  /** graceSeconds is how long a stopped container gets before it is killed. */
  graceSeconds: number;
  nowMs: number;
}

export interface KillContainer {
  id: string;
  name: string;
  reason: string;
  graceSeconds: number;
}

export interface StartContainer {
  name: string;
  attempt: number;
  /** restartOf is the exited container this one replaces after a crash (back-off bookkeeping). */
  restartOf: ObservedContainer | undefined;
}

export interface WaitingContainer {
  name: string;
  reason: string;
  message: string;
}

/** PodPlan is carried out in field order: kill, stop sandboxes, remove, create, start. */
export interface PodPlan {
  killContainers: KillContainer[];
  stopSandboxes: string[];
  removeContainers: string[];
  removeSandboxes: string[];
  /** createSandbox is set when a new sandbox is needed. */
  createSandbox: { attempt: number } | undefined;
  /** sandbox is the sandbox in use when no new one is made. */
  sandbox: ObservedSandbox | undefined;
  /** startContainers are created and started in spec order. */
  startContainers: StartContainer[];
  /** waiting are the containers that wait for a back-off. */
  waiting: WaitingContainer[];
  /** wakeAtMs is when the earliest wait ends (a sync is due then). */
  wakeAtMs: number | undefined;
}

/** podDisplayName names a pod in messages the way the back-off message shows it. */
export function podDisplayName(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
}

/** planPod decides one sync of a pod. */
export function planPod(input: PlanInput): PodPlan {
  return input.pod === undefined ? planRemoval(input) : new Planner(input, input.pod).plan();
}

function planRemoval(input: PlanInput): PodPlan {
  const { sandboxes, containers } = input.observation;
  return {
    killContainers: containers
      .filter((c) => c.state === 'running')
      .map((c) => ({ id: c.id, name: c.name, reason: 'pod removed', graceSeconds: input.graceSeconds })),
    stopSandboxes: sandboxes.filter((s) => s.ready).map((s) => s.id),
    removeContainers: containers.map((c) => c.id),
    removeSandboxes: sandboxes.map((s) => s.id),
    createSandbox: undefined,
    sandbox: undefined,
    startContainers: [],
    waiting: [],
    wakeAtMs: undefined,
  };
}

class Planner {
  readonly #in: PlanInput;
  readonly #pod: Pod;
  readonly #histories = new Map<string, ObservedContainer[]>();
  readonly #kills = new Map<string, KillContainer>();
  readonly #starts: StartContainer[] = [];
  readonly #waiting: WaitingContainer[] = [];
  #wakeAtMs: number | undefined;

  constructor(input: PlanInput, pod: Pod) {
    this.#in = input;
    this.#pod = pod;
    for (const c of input.observation.containers) {
      const history = this.#histories.get(c.name);
      if (history === undefined) this.#histories.set(c.name, [c]);
      else history.push(c);
    }
  }

  plan(): PodPlan {
    const { sandboxes, containers } = this.#in.observation;
    const newest = sandboxes[0];
    const readyCount = sandboxes.filter((s) => s.ready).length;
    const strays = containers.some((c) => c.state === 'running' && c.sandboxId !== newest?.id);
    const needSandbox = newest === undefined || !newest.ready || readyCount > 1 || strays;

    let createSandbox: { attempt: number } | undefined;
    if (needSandbox) {
      for (const c of containers) if (c.state === 'running') this.#kill(c, 'pod sandbox changed');
      const done = this.#policy() === 'Never' && sandboxes.length > 0 && containers.length > 0;
      if (!done) {
        for (const spec of this.#pod.spec.containers) this.#decide(spec, true);
        if (this.#starts.length > 0 || this.#waiting.length > 0) {
          createSandbox = { attempt: newest === undefined ? 0 : newest.attempt + 1 };
        }
      }
    } else {
      for (const spec of this.#pod.spec.containers) this.#decide(spec, false);
    }

    const kept = this.#keptContainers();
    const inUse = needSandbox ? undefined : newest;
    const stopSandboxes: string[] = [];
    const removeSandboxes: string[] = [];
    const keepRunning = containers.some((c) => c.state === 'running' && !this.#kills.has(c.id));
    const done = inUse !== undefined && !keepRunning && this.#starts.length === 0 && this.#waiting.length === 0;
    if (done) stopSandboxes.push(inUse.id);
    const holding = new Set(containers.filter((c) => kept.has(c.id)).map((c) => c.sandboxId));
    for (const s of sandboxes) {
      if (s === inUse) continue;
      if (s.ready) stopSandboxes.push(s.id);
      if (!holding.has(s.id)) removeSandboxes.push(s.id);
    }
    return {
      killContainers: [...this.#kills.values()],
      stopSandboxes,
      removeContainers: containers.filter((c) => !kept.has(c.id) && c.state !== 'running').map((c) => c.id),
      removeSandboxes,
      createSandbox,
      sandbox: inUse,
      startContainers: this.#starts,
      waiting: this.#waiting,
      wakeAtMs: this.#wakeAtMs,
    };
  }

  #policy(): 'Always' | 'OnFailure' | 'Never' {
    return this.#pod.spec.restartPolicy ?? 'Always';
  }

  #kill(c: ObservedContainer, reason: string): void {
    if (!this.#kills.has(c.id)) this.#kills.set(c.id, { id: c.id, name: c.name, reason, graceSeconds: this.#in.graceSeconds });
  }

  /** #decide handles one spec container; inNewSandbox: every running container is being stopped. */
  #decide(spec: Container, inNewSandbox: boolean): void {
    const newest = this.#histories.get(spec.name)?.[0];
    if (newest === undefined) {
      this.#wantStart(spec.name, 0, undefined);
      return;
    }
    const attempt = newest.attempt + 1;
    if (newest.state === 'running') {
      const specHash = this.#in.specHashes.get(spec.name);
      const hashChanged = newest.hash !== '' && specHash !== undefined && newest.hash !== specHash;
      if (inNewSandbox) {
        if (this.#policy() !== 'Never') this.#wantStart(spec.name, attempt, undefined);
      } else if (hashChanged) {
        this.#kill(newest, 'container spec changed');
        this.#wantStart(spec.name, attempt, undefined);
      } else if (this.#in.livenessFailed.has(newest.id)) {
        this.#kill(newest, 'liveness probe failed');
      }
      return;
    }
    if (newest.state !== 'exited') {
      // Created but never started (a start that failed, or an agent that stopped half-way).
      this.#wantStart(spec.name, attempt, undefined);
      return;
    }
    if (!this.#shouldRestart(newest)) return;
    const key = backoffKey(this.#in.observation.uid, spec.name);
    const run = { startedAtMs: newest.startedAtMs, finishedAtMs: newest.finishedAtMs };
    const remainingMs = this.#in.backoff.remainingMs(key, run, this.#in.nowMs);
    if (remainingMs > 0) {
      const delay = formatDuration(this.#in.backoff.delayMs(key));
      this.#wait(spec.name, 'CrashLoopBackOff', `back-off ${delay} restarting failed container=${spec.name} pod=${podDisplayName(this.#pod)}`, this.#in.nowMs + remainingMs);
      return;
    }
    this.#wantStart(spec.name, attempt, newest);
  }

  #shouldRestart(exited: ObservedContainer): boolean {
    switch (this.#policy()) {
      case 'Always':
        return true;
      case 'OnFailure':
        return exited.exitCode !== 0 || this.#in.livenessFailed.has(exited.id);
      case 'Never':
        return false;
    }
  }

  #wantStart(name: string, attempt: number, restartOf: ObservedContainer | undefined): void {
    const failure = this.#in.startFailures.get(name);
    if (failure !== undefined && this.#in.nowMs < failure.retryAtMs) {
      const reason = failure.reason === 'ErrImagePull' ? 'ImagePullBackOff' : failure.reason;
      this.#wait(name, reason, failure.message, failure.retryAtMs);
      return;
    }
    this.#starts.push({ name, attempt, restartOf });
  }

  #wait(name: string, reason: string, message: string, untilMs: number): void {
    this.#waiting.push({ name, reason, message });
    this.#wakeAtMs = this.#wakeAtMs === undefined ? untilMs : Math.min(this.#wakeAtMs, untilMs);
  }

  /** #keptContainers picks, per name, the newest container and the newest exited one before it;
   *  running containers it does not keep are stopped (duplicates, names not in the spec). */
  #keptContainers(): Set<string> {
    const specNames = new Set(this.#pod.spec.containers.map((c) => c.name));
    const startsNew = new Set(this.#starts.map((s) => s.name));
    const kept = new Set<string>();
    for (const [name, history] of this.#histories) {
      if (specNames.has(name)) {
        const newest = history[0];
        if (!startsNew.has(name) && newest !== undefined) kept.add(newest.id);
        const earlier = startsNew.has(name) ? history : history.slice(1);
        const previous = earlier.find((c) => c.state === 'exited' || this.#kills.has(c.id));
        if (previous !== undefined) kept.add(previous.id);
      }
      for (const c of history) {
        if (c.state === 'running' && !kept.has(c.id)) this.#kill(c, specNames.has(name) ? 'duplicate container' : 'not in the pod spec');
      }
    }
    return kept;
  }
}
