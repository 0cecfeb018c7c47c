// pod-readiness.ts: the pod states the workload controllers count by: active (one of a
// ReplicaSet's replicas), Ready, and available (Ready for minReadySeconds).
import type { Pod } from '@tugboat/api';

/** isPodTerminating: deletion has started (metadata.deletionTimestamp is set). */
export function isPodTerminating(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp !== undefined;
}

/** isPodActive: the pod counts as a replica: not terminating and not finished (Succeeded/Failed). */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !isPodTerminating(pod) && phase !== 'Succeeded' && phase !== 'Failed';
}

/** isPodReady: the pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** readySinceMs is when the pod became Ready (its Ready condition's lastTransitionTime), ms. */
function readySinceMs(pod: Pod): number | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  const t = Date.parse(c?.lastTransitionTime ?? '');
  return Number.isNaN(t) ? undefined : t;
}

/**
 * msUntilAvailable is how long until the pod is available: 0 when it is (Ready, not
 * terminating, and Ready for at least minReadySeconds), the remaining ms when it is Ready but
 * not for long enough, undefined when it is not Ready (or its Ready time is unknown while
 * minReadySeconds > 0).
 */
export function msUntilAvailable(pod: Pod, minReadySeconds: number, nowMs: number): number | undefined {
  if (isPodTerminating(pod) || !isPodReady(pod)) return undefined;
  if (minReadySeconds <= 0) return 0;
  const since = readySinceMs(pod);
  if (since === undefined) return undefined;
  return Math.max(0, since + minReadySeconds * 1000 - nowMs);
}

/** isPodAvailable: see msUntilAvailable. */
export function isPodAvailable(pod: Pod, minReadySeconds: number, nowMs: number): boolean {
  return msUntilAvailable(pod, minReadySeconds, nowMs) === 0;
}

/** restartCount is the most restarts of any of the pod's containers. */
export function restartCount(pod: Pod): number {
  return Math.max(0, ...(pod.status?.containerStatuses ?? []).map((s) => s.restartCount));
}
