// node-health.ts: the node lifecycle controller's decisions, pure: what a Node's Ready condition
// and the age of its heartbeat (its Lease's renewal, or its status's) say about it, which taints
// that calls for, and which pods the NoExecute taints of a node evict, and when. Times are ms
// since the epoch.
import type { Lease, Node, NodeCondition, Pod, PodCondition, Taint, TaintEffect, Toleration } from '@tugboat/api';

/** TAINT_UNREACHABLE marks a Node whose agent stopped posting status (heartbeat too old). */
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** TAINT_NOT_READY marks a Node whose agent reports Ready False. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

const HEALTH_TAINT_KEYS: readonly string[] = [TAINT_UNREACHABLE, TAINT_NOT_READY];
const HEALTH_TAINT_EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'NoExecute'];

/** UNKNOWN_REASON and UNKNOWN_MESSAGE go into the Ready condition of a Node gone silent. */
export const UNKNOWN_REASON = 'NodeStatusUnknown';
export const UNKNOWN_MESSAGE = 'tug-agent stopped posting node status';

/**
 * NodeHealth is what the controller makes of a Node:
 * - ready: Ready True, heartbeat fresh;
 * - not-ready: the agent reports Ready False (heartbeat fresh);
 * - unreachable: the heartbeat aged past the grace period, or Ready is Unknown already;
 * - unreported: no Ready condition yet, heartbeat (creation) fresh: no taints yet.
 */
export type NodeHealth = 'ready' | 'not-ready' | 'unreachable' | 'unreported';

export interface NodeAssessment {
  readonly health: NodeHealth;
  /** markUnknown: the heartbeat aged past the grace period and Ready is not Unknown yet. */
  readonly markUnknown: boolean;
  /** staleAtMs is when the heartbeat ages past the grace period, while it has not yet. */
  readonly staleAtMs: number | undefined;
}

/** readyCondition returns the Node's Ready condition, if it has one. */
export function readyCondition(node: Node): NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

function timeMs(t: string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * heartbeatMs is the later of the Node's status heartbeat (the Ready condition's
 * lastHeartbeatTime, else the Node's creation: an agent that never posted status ages from
 * there) and the renewTime of its Lease (the agent's heartbeat; its status is written only when
 * it changes or every few tens of seconds). A Node without a Lease (an older agent) counts its
 * status alone. Undefined when nothing is known.
 */
export function heartbeatMs(node: Node, lease: Lease | undefined): number | undefined {
  const status = timeMs(readyCondition(node)?.lastHeartbeatTime) ?? timeMs(node.metadata.creationTimestamp);
  const renewed = timeMs(lease?.spec?.renewTime);
  if (renewed === undefined) return status;
  return status === undefined ? renewed : Math.max(status, renewed);
}

/**
 * assessNode judges node, with its Lease if it has one, at nowMs: a heartbeat (heartbeatMs) at
 * least graceMs old makes it unreachable. A heartbeat counts from sinceMs at the earliest (when
 * this leader began watching): heartbeats could not be written while there was no leader, so a
 * control-plane outage does not make every Node look silent the moment a leader is back.
 */
export function assessNode(node: Node, lease: Lease | undefined, nowMs: number, graceMs: number, sinceMs = 0): NodeAssessment {
  const ready = readyCondition(node);
  if (ready?.status === 'Unknown') return { health: 'unreachable', markUnknown: false, staleAtMs: undefined };
  const beat = heartbeatMs(node, lease);
  const hb = beat === undefined ? undefined : Math.max(beat, sinceMs);
  const staleAtMs = hb === undefined ? undefined : hb + graceMs;
  if (staleAtMs !== undefined && nowMs >= staleAtMs) return { health: 'unreachable', markUnknown: true, staleAtMs: undefined };
  const health: NodeHealth = ready === undefined ? 'unreported' : ready.status === 'True' ? 'ready' : 'not-ready';
  return { health, markUnknown: false, staleAtMs };
}

/** withReadyUnknown returns a copy of node whose Ready condition is Unknown (reason
 *  NodeStatusUnknown), keeping its lastHeartbeatTime; the transition is at nowIso. */
export function withReadyUnknown(node: Node, nowIso: string): Node {
  const copy = structuredClone(node);
  const prev = readyCondition(node);
  const unknown: NodeCondition = {
    type: 'Ready',
    status: 'Unknown',
    reason: UNKNOWN_REASON,
    message: UNKNOWN_MESSAGE,
    lastTransitionTime: nowIso,
    ...(prev?.lastHeartbeatTime === undefined ? {} : { lastHeartbeatTime: prev.lastHeartbeatTime }),
  };
  const others = (copy.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  copy.status = { ...copy.status, conditions: [unknown, ...others] };
  return copy;
}

/**
 * withPodNotReady returns a copy of a pod whose Ready condition (and ContainersReady) is False
 * because its node is not ready, or undefined when it is not Ready now (nothing to change).
 * The node lifecycle controller writes it for every pod of a Node that turns NotReady, so that
 * services stop sending them traffic at once, not only once they are evicted.
 */
export function withPodNotReady(pod: Pod, nowIso: string): Pod | undefined {
  const conditions = pod.status?.conditions ?? [];
  if (!conditions.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
  const copy = structuredClone(pod);
  const notReady = (type: string): PodCondition => ({ type, status: 'False', reason: 'NodeNotReady', message: 'the pod\'s node is not ready', lastTransitionTime: nowIso });
  copy.status = {
    ...copy.status,
    conditions: conditions.map((c) => (c.type === 'Ready' || (c.type === 'ContainersReady' && c.status === 'True') ? notReady(c.type) : structuredClone(c))),
  };
  return copy;
}

/** healthTaintKey is the taint key a health calls for (undefined: none). */
export function healthTaintKey(health: NodeHealth): string | undefined {
  return health === 'unreachable' ? TAINT_UNREACHABLE : health === 'not-ready' ? TAINT_NOT_READY : undefined;
}

function isHealthTaint(t: Taint): boolean {
  return HEALTH_TAINT_KEYS.includes(t.key) && HEALTH_TAINT_EFFECTS.includes(t.effect);
}

/**
 * healthTaints returns the Node's taints as its health wants them, or undefined when they are
 * so already: the health key's NoSchedule and NoExecute taints present (those already there
 * keep their timeAdded, new ones get nowIso), the other health key's gone, every other taint
 * untouched and in its place.
 */
export function healthTaints(health: NodeHealth, existing: readonly Taint[] | undefined, nowIso: string): Taint[] | undefined {
  const current = existing ?? [];
  const want = healthTaintKey(health);
  const kept = current.filter((t) => !isHealthTaint(t) || t.key === want);
  const added: Taint[] = [];
  if (want !== undefined) {
    for (const effect of HEALTH_TAINT_EFFECTS) {
      if (!kept.some((t) => t.key === want && t.effect === effect)) added.push({ key: want, effect, timeAdded: nowIso });
    }
  }
  if (added.length === 0 && kept.length === current.length) return undefined;
  return [...kept.map((t) => ({ ...t })), ...added];
}

/** tolerates tells whether toleration t tolerates taint (key, operator, value and effect). */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  const key = t.key ?? '';
  if (key === '') return t.operator === 'Exists';
  if (key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/**
 * evictionAtMs is when a pod on a node with these taints is to be evicted, undefined for never:
 * the earliest, over the NoExecute taints, of the taint's timeAdded (else `taintedMs`) plus the
 * seconds the pod may stay: the least tolerationSeconds of its tolerations that match the taint
 * (negative counts as 0); forever when the matching ones have none; when none matches,
 * defaultSeconds for the not-ready and unreachable taints (as if the pod had asked for them)
 * and 0 for any other.
 */
export function evictionAtMs(pod: Pod, taints: readonly Taint[], defaultSeconds: number, taintedMs: number, sinceMs = 0): number | undefined {
  let at: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const matching = (pod.spec.tolerations ?? []).filter((t) => tolerates(t, taint));
    let seconds: number | undefined;
    if (matching.length === 0) {
      seconds = HEALTH_TAINT_KEYS.includes(taint.key) ? defaultSeconds : 0;
    } else {
      const limits = matching.flatMap((t) => (t.tolerationSeconds === undefined ? [] : [Math.max(0, t.tolerationSeconds)]));
      if (limits.length === 0) continue;
      seconds = Math.min(...limits);
    }
    const when = Math.max(timeMs(taint.timeAdded) ?? taintedMs, sinceMs) + seconds * 1_000;
    if (at === undefined || when < at) at = when;
  }
  return at;
}

/**
 * actsFromMs is the earliest moment a leader watching since sinceMs acts on a node's health
 * (marks its pods not Ready, counts its NoExecute taints): sinceMs, except on an unreachable
 * node, where it is a grace period later. A leader may find a node unreachable by its
 * predecessor's verdict (Ready Unknown), made while the control plane could not store
 * heartbeats; only a grace period of silence it has watched itself makes it act.
 */
export function actsFromMs(health: NodeHealth, sinceMs: number, graceMs: number): number {
  return health === 'unreachable' ? sinceMs + graceMs : sinceMs;
}

export interface EvictionPlan {
  /** due are the pods to delete now. */
  readonly due: Pod[];
  /** force: delete with grace 0 (the node is unreachable: nobody is there to stop them). */
  readonly force: boolean;
  /** nextAtMs is when the next pod not yet due will be. */
  readonly nextAtMs: number | undefined;
}

/**
 * planEvictions picks the pods of `pods` (those bound to the node) that the node's NoExecute
 * taints evict at nowMs. A pod already terminating is left to its agent, except on an
 * unreachable node, where nobody will finish it: there it is deleted at once when due.
 */
export function planEvictions(pods: readonly Pod[], taints: readonly Taint[], health: NodeHealth, nowMs: number, defaultSeconds: number, sinceMs = 0): EvictionPlan {
  const force = health === 'unreachable';
  const due: Pod[] = [];
  let nextAtMs: number | undefined;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp !== undefined && !force) continue;
    const at = evictionAtMs(pod, taints, defaultSeconds, nowMs, sinceMs);
    if (at === undefined) continue;
    if (at <= nowMs) due.push(pod);
    else if (nextAtMs === undefined || at < nextAtMs) nextAtMs = at;
  }
  return { due, force, nextAtMs };
}
