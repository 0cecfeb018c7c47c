// replicaset-plan.ts: what a ReplicaSet controller decides, without I/O: which pods it adopts
// and releases, how many it creates or which it deletes, the pod it creates, and its status.
import type { ObjectMeta, Pod, ReplicaSet, ReplicaSetStatus } from '@tugboat/api';
import { claimOf, controllerRefTo } from './owner-refs.ts';
import { isPodActive, isPodAvailable, isPodReady, msUntilAvailable, restartCount } from './pod-readiness.ts';

/** BURST_REPLICAS is the most pods one sync creates or deletes. */
export const BURST_REPLICAS = 500;

/** Longest generateName prefix, so that prefix + 5 random characters fit a 63-character label. */
const GENERATE_NAME_PREFIX_MAX = 58;

export interface ReplicaSetPlan {
  /** Orphan pods that match the selector: adopt them. */
  readonly adopt: Pod[];
  /** Owned pods that no longer match: release them. */
  readonly release: Pod[];
  /** The active pods the ReplicaSet owns once adoption and release are done. */
  readonly owned: Pod[];
  /** How many pods to create. */
  readonly create: number;
  /** Pods to delete, the best candidates for deletion first. */
  readonly delete: Pod[];
}

/**
 * planReplicaSet decides for `rs` given the pods of its namespace. Only active pods (see
 * isPodActive) are claimed and counted. With manage false (its expectations are not met, or it
 * is being deleted) it only claims: it creates and deletes nothing. At most `burst` pods are
 * created or deleted at once.
 */
export function planReplicaSet(rs: ReplicaSet, pods: readonly Pod[], manage: boolean, burst = BURST_REPLICAS): ReplicaSetPlan {
  const adopt: Pod[] = [];
  const release: Pod[] = [];
  const owned: Pod[] = [];
  for (const pod of pods) {
    if (!isPodActive(pod)) continue;
    switch (claimOf(rs, rs.spec.selector, pod.metadata)) {
      case 'own':
        owned.push(pod);
        break;
      case 'adopt':
        adopt.push(pod);
        owned.push(pod);
        break;
      case 'release':
        release.push(pod);
        break;
      case 'ignore':
        break;
    }
  }
  const diff = owned.length - (rs.spec.replicas ?? 1);
  if (!manage || diff === 0) return { adopt, release, owned, create: 0, delete: [] };
  if (diff < 0) return { adopt, release, owned, create: Math.min(-diff, burst), delete: [] };
  return { adopt, release, owned, create: 0, delete: podDeletionOrder(owned).slice(0, Math.min(diff, burst)) };
}

const PHASE_ORDER: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function readySince(pod: Pod): number {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  return Date.parse(c?.lastTransitionTime ?? '') || 0;
}

/**
 * podDeletionOrder sorts pods, the one to delete first first: not scheduled before scheduled;
 * Pending before Unknown before Running; not Ready before Ready; more of the given pods on the
 * same node before fewer (spreading what stays); Ready for less time before longer; more
 * container restarts before fewer; newer before older; then by name.
 */
export function podDeletionOrder(pods: readonly Pod[]): Pod[] {
  const perNode = new Map<string, number>();
  for (const p of pods) {
    const n = p.spec.nodeName;
    if (n) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  }
  const key = (p: Pod) => ({
    scheduled: p.spec.nodeName ? 1 : 0,
    phase: PHASE_ORDER[p.status?.phase ?? 'Pending'] ?? 0,
    ready: isPodReady(p) ? 1 : 0,
    colocated: p.spec.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0,
    readySince: isPodReady(p) ? readySince(p) : 0,
    restarts: restartCount(p),
    created: Date.parse(p.metadata.creationTimestamp ?? '') || 0,
    name: p.metadata.name ?? '',
  });
  return pods
    .map((p) => ({ p, k: key(p) }))
    .sort(({ k: a }, { k: b }) => {
      if (a.scheduled !== b.scheduled) return a.scheduled - b.scheduled;
      if (a.phase !== b.phase) return a.phase - b.phase;
      if (a.ready !== b.ready) return a.ready - b.ready;
      if (a.colocated !== b.colocated) return b.colocated - a.colocated;
      if (a.readySince !== b.readySince) return b.readySince - a.readySince;
      if (a.restarts !== b.restarts) return b.restarts - a.restarts;
      if (a.created !== b.created) return b.created - a.created;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    })
    .map(({ p }) => p);
}

/** podFromTemplate is the pod `rs` creates: its template, a generated name `RSNAME-xxxxx`, owned by rs. */
export function podFromTemplate(rs: ReplicaSet): Pod {
  const t = rs.spec.template;
  const meta: ObjectMeta = {
    generateName: `${rs.metadata.name ?? ''}-`.slice(0, GENERATE_NAME_PREFIX_MAX),
    ownerReferences: [controllerRefTo(rs)],
  };
  if (rs.metadata.namespace !== undefined) meta.namespace = rs.metadata.namespace;
  if (t.metadata?.labels !== undefined) meta.labels = { ...t.metadata.labels };
  if (t.metadata?.annotations !== undefined) meta.annotations = { ...t.metadata.annotations };
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: structuredClone(t.spec) };
}

/** ReplicaSetStatusResult: the status, and when to look again for a pod that becomes available. */
export interface ReplicaSetStatusResult {
  readonly status: ReplicaSetStatus;
  /** ms until the next owned pod becomes available (Ready for minReadySeconds), if one will. */
  readonly recheckInMs?: number;
}

/**
 * replicaSetStatus computes rs's status from the active pods it owns: replicas, those with every
 * template label (fullyLabeledReplicas), Ready, available (Ready for spec.minReadySeconds),
 * observedGeneration; conditions are kept as they are.
 */
export function replicaSetStatus(rs: ReplicaSet, owned: readonly Pod[], nowMs: number): ReplicaSetStatusResult {
  const minReady = rs.spec.minReadySeconds ?? 0;
  const templateLabels = Object.entries(rs.spec.template.metadata?.labels ?? {});
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  let recheck: number | undefined;
  for (const p of owned) {
    if (templateLabels.every(([k, v]) => p.metadata.labels?.[k] === v)) fullyLabeled++;
    if (isPodReady(p)) ready++;
    if (isPodAvailable(p, minReady, nowMs)) available++;
    else {
      const wait = msUntilAvailable(p, minReady, nowMs);
      if (wait !== undefined) recheck = Math.min(recheck ?? wait, wait);
    }
  }
  const status: ReplicaSetStatus = {
    replicas: owned.length,
    fullyLabeledReplicas: fullyLabeled,
    readyReplicas: ready,
    availableReplicas: available,
  };
  if (rs.metadata.generation !== undefined) status.observedGeneration = rs.metadata.generation;
  if (rs.status?.conditions !== undefined) status.conditions = structuredClone(rs.status.conditions);
  return recheck === undefined ? { status } : { status, recheckInMs: recheck };
}

/** sameReplicaSetStatus tells whether two statuses say the same (absent counts as 0). */
export function sameReplicaSetStatus(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (
    (a?.replicas ?? 0) === b.replicas &&
    (a?.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0) &&
    (a?.readyReplicas ?? 0) === (b.readyReplicas ?? 0) &&
    (a?.availableReplicas ?? 0) === (b.availableReplicas ?? 0) &&
    a?.observedGeneration === b.observedGeneration &&
    JSON.stringify(a?.conditions ?? []) === JSON.stringify(b.conditions ?? [])
  );
}
