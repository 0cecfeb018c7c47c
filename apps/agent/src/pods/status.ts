// status.ts: a pod's status from what the runtime has of it (pure). The same observation gives
// the same status: times come from the runtime or are kept from the previous status, so the
// manager writes a status only when something really changed.
import type {
  Container,
  ContainerState,
  ContainerStateTerminated,
  ContainerStatus,
  Pod,
  PodCondition,
  PodIP,
  PodPhase,
  PodStatus,
} from '@tugboat/api';
import { qosClass } from './cri-config.ts';
import type { ObservedContainer, PodObservation } from './runtime.ts';

export interface WaitingReason {
  reason: string;
  message: string;
}

export interface StatusInput {
  pod: Pod;
  observation: PodObservation;
  /** waiting maps container names to why they wait (a back-off, a failed start). */
  waiting: ReadonlyMap<string, WaitingReason>;
  /** ready is the readiness of a running container (the prober's answer). */
  ready: (containerName: string, containerId: string) => boolean;
  /** hostIP is the node's IP. */
  hostIP: string;
  /** previous is the status written before (transition times, start time and pod IP are kept). */
  previous: PodStatus | undefined;
  nowMs: number;
}

/** CONTAINER_ID_PREFIX is how container ids are written in the status (the runtime's name). */
export const CONTAINER_ID_PREFIX = 'containerd://';

/** formatTime writes ms since the epoch as an RFC 3339 time in whole seconds (UTC). */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** podStatus computes the status of a pod. */
export function podStatus(input: StatusInput): PodStatus {
  const { pod, observation, previous } = input;
  const histories = new Map<string, ObservedContainer[]>();
  for (const c of observation.containers) {
    const h = histories.get(c.name);
    if (h === undefined) histories.set(c.name, [c]);
    else h.push(c);
  }
  const containerStatuses = pod.spec.containers.map((spec) =>
    containerStatus(spec, histories.get(spec.name) ?? [], input),
  );
  const phase = podPhase(pod, containerStatuses);
  const conditions = podConditions(phase, containerStatuses, previous?.conditions ?? [], input.nowMs);

  const status: PodStatus = { phase, conditions, hostIP: input.hostIP };
  const sandbox = observation.sandboxes[0];
  if (sandbox !== undefined && sandbox.ready && sandbox.ip !== '') {
    status.podIP = sandbox.ip;
    status.podIPs = [sandbox.ip, ...sandbox.additionalIps].map((ip): PodIP => ({ ip }));
  } else if (previous?.podIP !== undefined && previous.podIP !== '') {
    status.podIP = previous.podIP;
    status.podIPs = previous.podIPs ?? [{ ip: previous.podIP }];
  }
  status.startTime = previous?.startTime ?? formatTime(input.nowMs);
  status.containerStatuses = containerStatuses;
  status.qosClass = qosClass(pod);
  return status;
}

function terminated(c: ObservedContainer): ContainerStateTerminated {
  const t: ContainerStateTerminated = {
    exitCode: c.exitCode,
    reason: c.reason !== '' ? c.reason : c.exitCode === 0 ? 'Completed' : 'Error',
  };
  if (c.message !== '') t.message = c.message;
  if (c.startedAtMs > 0) t.startedAt = formatTime(c.startedAtMs);
  if (c.finishedAtMs > 0) t.finishedAt = formatTime(c.finishedAtMs);
  t.containerID = CONTAINER_ID_PREFIX + c.id;
  return t;
}

function containerStatus(spec: Container, history: readonly ObservedContainer[], input: StatusInput): ContainerStatus {
  const current = history[0];
  const waiting = input.waiting.get(spec.name);
  const previousExited = history.slice(1).find((c) => c.state === 'exited');
  let state: ContainerState;
  let lastState: ContainerState = previousExited === undefined ? {} : { terminated: terminated(previousExited) };
  if (current === undefined) {
    state = { waiting: waiting ?? { reason: 'ContainerCreating' } };
  } else if (current.state === 'running') {
    state = { running: current.startedAtMs > 0 ? { startedAt: formatTime(current.startedAtMs) } : {} };
  } else if (current.state === 'exited') {
    if (waiting !== undefined) {
      state = { waiting };
      lastState = { terminated: terminated(current) };
    } else {
      state = { terminated: terminated(current) };
    }
  } else {
    state = { waiting: waiting ?? { reason: 'ContainerCreating' } };
  }
  const running = current?.state === 'running';
  const status: ContainerStatus = {
    name: spec.name,
    state,
    lastState,
    ready: running && current !== undefined && input.ready(spec.name, current.id),
    restartCount: current?.attempt ?? 0,
    image: spec.image,
    imageID: current?.imageRef ?? '',
  };
  if (current !== undefined) status.containerID = CONTAINER_ID_PREFIX + current.id;
  status.started = running;
  return status;
}

/** podPhase: Pending while a container has not run yet; Running while one runs or will run
 *  again; when all stopped for good, Succeeded if all exited 0, else Failed. */
function podPhase(pod: Pod, statuses: readonly ContainerStatus[]): PodPhase {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state?.running !== undefined) running++;
    else if (s.state?.terminated !== undefined) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState?.terminated !== undefined) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (policy === 'Always') return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  return policy === 'OnFailure' ? 'Running' : 'Failed';
}

function podConditions(
  phase: PodPhase,
  statuses: readonly ContainerStatus[],
  previous: readonly PodCondition[],
  nowMs: number,
): PodCondition[] {
  const condition = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const status = ok ? 'True' : 'False';
    const before = previous.find((c) => c.type === type);
    const c: PodCondition = {
      type,
      status,
      lastTransitionTime:
        before?.status === status && before.lastTransitionTime !== undefined ? before.lastTransitionTime : formatTime(nowMs),
    };
    if (reason !== undefined) c.reason = reason;
    if (message !== undefined) c.message = message;
    return c;
  };
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const ready = unready.length === 0;
  const reason = ready ? undefined : completed ? 'PodCompleted' : 'ContainersNotReady';
  const message = ready || completed ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  return [
    condition('Initialized', true),
    condition('Ready', ready, reason, message),
    condition('ContainersReady', ready, reason, message),
    condition('PodScheduled', true),
  ];
}

/** statusKey is a canonical text of a status (object keys sorted), for telling a change. */
export function statusKey(status: PodStatus): string {
  return JSON.stringify(status, (_key, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
    return sorted;
  });
}
