// deployment-plan.ts: what the Deployment controller decides, without I/O: the revision
// ReplicaSets (name, hash, revision, annotations), how far each ReplicaSet is scaled in a
// rolling update, a Recreate, or a plain scaling (proportional while paused or mid-rollout),
// which old ReplicaSets the history limit prunes, and the Deployment's status and conditions.
import type { Deployment, DeploymentCondition, DeploymentStatus, IntOrString, LabelSelector, PodTemplateSpec, ReplicaSet } from '@tugboat/api';
import { controllerRefTo } from './owner-refs.ts';

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/** The Deployment's replicas when it last scaled this ReplicaSet. */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
/** replicas + maxSurge when the Deployment last scaled this ReplicaSet (proportional scaling reads it). */
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';

/** Deployment annotations not copied to its ReplicaSets. */
const NOT_COPIED = new Set([
  REVISION_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'tugboat.io/last-applied-configuration',
  'kubectl.kubernetes.io/last-applied-configuration',
]);

// ---------------------------------------------------------------------------------------------
// Templates and hashes

/** Characters of a hash: no vowels (no words), no look-alikes (0/o, 1/l). */
const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * templateHash is a short stable hash of a pod template (FNV-1a 32 of its canonical JSON, key
 * order not counting, with the collision count mixed in when above 0), written in HASH_ALPHABET.
 */
export function templateHash(template: PodTemplateSpec, collisionCount = 0): string {
  let h = 0x811c9dc5;
  const text = canonical(withoutHashLabel(template)) + (collisionCount > 0 ? `#${collisionCount}` : '');
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  let out = '';
  do {
    out = HASH_ALPHABET[h % HASH_ALPHABET.length] + out;
    h = Math.floor(h / HASH_ALPHABET.length);
  } while (h > 0);
  return out;
}

function withoutHashLabel(t: PodTemplateSpec): PodTemplateSpec {
  const labels = t.metadata?.labels;
  if (labels === undefined || !(POD_TEMPLATE_HASH_LABEL in labels)) return t;
  const { [POD_TEMPLATE_HASH_LABEL]: _hash, ...rest } = labels;
  return { ...t, metadata: { ...t.metadata, labels: rest } };
}

/** sameTemplate tells whether two pod templates are equal once the pod-template-hash label is left out. */
export function sameTemplate(a: PodTemplateSpec, b: PodTemplateSpec): boolean {
  return canonical(withoutHashLabel(a)) === canonical(withoutHashLabel(b));
}

// ---------------------------------------------------------------------------------------------
// Revisions

/** revisionOf is a ReplicaSet's revision (0 when it has none). */
export function revisionOf(rs: ReplicaSet): number {
  const n = Number.parseInt(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** nextRevision is the revision a ReplicaSet gets when it becomes the new one: 1 + the highest of the others. */
export function nextRevision(oldRSs: readonly ReplicaSet[]): number {
  return Math.max(0, ...oldRSs.map(revisionOf)) + 1;
}

/** findNewReplicaSet is the oldest ReplicaSet whose template is the Deployment's, if any. */
export function findNewReplicaSet(d: Deployment, rsList: readonly ReplicaSet[]): ReplicaSet | undefined {
  return byAge(rsList).find((rs) => sameTemplate(rs.spec.template, d.spec.template));
}

/**
 * newReplicaSetAnnotations are the annotations the new ReplicaSet should carry: its own, the
 * Deployment's (but for the controller's bookkeeping ones), and its revision: `revision` when
 * that is above the one it has (a rollback to an old template gives it a new revision).
 */
export function newReplicaSetAnnotations(d: Deployment, rs: ReplicaSet | undefined, revision: number): Record<string, string> {
  const out: Record<string, string> = { ...(rs?.metadata.annotations ?? {}) };
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (!NOT_COPIED.has(k)) out[k] = v;
  const had = rs === undefined ? 0 : revisionOf(rs);
  out[REVISION_ANNOTATION] = String(Math.max(had, revision));
  return out;
}

/** replicasAnnotations are the desired/max replicas annotations for a ReplicaSet the Deployment scales. */
export function replicasAnnotations(d: Deployment): Record<string, string> {
  const replicas = d.spec.replicas ?? 1;
  return { [DESIRED_REPLICAS_ANNOTATION]: String(replicas), [MAX_REPLICAS_ANNOTATION]: String(replicas + maxSurge(d)) };
}

function selectorWithHash(selector: LabelSelector, hash: string): LabelSelector {
  return { ...structuredClone(selector), matchLabels: { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
}

/**
 * newReplicaSetFor is the ReplicaSet that makes the Deployment's current template: named
 * `DEPLOYMENT-HASH`, the pod-template-hash label on itself, its selector and its template,
 * owned by d, with `replicas` replicas and d's minReadySeconds.
 */
export function newReplicaSetFor(d: Deployment, revision: number, replicas: number): ReplicaSet {
  const hash = templateHash(d.spec.template, d.status?.collisionCount ?? 0);
  const template = structuredClone(d.spec.template);
  template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name ?? ''}-${hash}`,
      labels: { ...(d.spec.template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
      annotations: { ...newReplicaSetAnnotations(d, undefined, revision), ...replicasAnnotations(d) },
      ownerReferences: [controllerRefTo(d)],
    },
    spec: { replicas, minReadySeconds: d.spec.minReadySeconds ?? 0, selector: selectorWithHash(d.spec.selector, hash), template },
  };
  if (d.metadata.namespace !== undefined) rs.metadata.namespace = d.metadata.namespace;
  return rs;
}

// ---------------------------------------------------------------------------------------------
// Rolling update arithmetic

/**
 * resolveIntOrPercent turns an int or "N%" into a count of `total`: percentages rounded up or
 * down as asked. A value that is neither counts as 0.
 */
export function resolveIntOrPercent(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return Math.max(0, Math.trunc(v));
  const m = /^(\d+)%$/.exec(v ?? '');
  if (m === null) return 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * fenceposts are a RollingUpdate's maxSurge (rounded up) and maxUnavailable (rounded down) as
 * pod counts of spec.replicas; both 0 would make no progress, so maxUnavailable is then 1.
 * Recreate: both 0.
 */
export function fenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  if (d.spec.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: 0 };
  const replicas = d.spec.replicas ?? 1;
  const ru = d.spec.strategy?.rollingUpdate;
  const surge = resolveIntOrPercent(ru?.maxSurge ?? '25%', replicas, true);
  const unavailable = resolveIntOrPercent(ru?.maxUnavailable ?? '25%', replicas, false);
  return surge === 0 && unavailable === 0 ? { maxSurge: 0, maxUnavailable: 1 } : { maxSurge: surge, maxUnavailable: unavailable };
}

/** maxSurge: see fenceposts. */
export function maxSurge(d: Deployment): number {
  return fenceposts(d).maxSurge;
}

/** maxUnavailable: see fenceposts; never above spec.replicas (0 with 0 replicas). */
export function maxUnavailable(d: Deployment): number {
  return Math.min(fenceposts(d).maxUnavailable, d.spec.replicas ?? 1);
}

function specReplicas(rs: ReplicaSet | undefined): number {
  return rs === undefined ? 0 : (rs.spec.replicas ?? 1);
}

/**
 * availableOf is how many of rs's pods count as available: what its status says, but never more
 * than spec.replicas (a ReplicaSet just scaled down still reports the pods it is deleting).
 */
export function availableOf(rs: ReplicaSet): number {
  return Math.min(rs.status?.availableReplicas ?? 0, specReplicas(rs));
}

function sum(rsList: readonly ReplicaSet[], f: (rs: ReplicaSet) => number): number {
  return rsList.reduce((n, rs) => n + f(rs), 0);
}

/** ScaleAction: set this ReplicaSet's spec.replicas to `replicas`. */
export interface ScaleAction {
  readonly rs: ReplicaSet;
  readonly replicas: number;
}

/**
 * newReplicaSetTarget is the size the new ReplicaSet should have now. Recreate: spec.replicas.
 * RollingUpdate: grow by the room maxSurge leaves above spec.replicas (counting every
 * ReplicaSet's spec.replicas), up to spec.replicas; shrink to spec.replicas when above it.
 */
export function newReplicaSetTarget(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: readonly ReplicaSet[]): number {
  const replicas = d.spec.replicas ?? 1;
  const current = specReplicas(newRS);
  if (d.spec.strategy?.type === 'Recreate' || current >= replicas) return replicas;
  const total = current + sum(oldRSs, specReplicas);
  const room = replicas + maxSurge(d) - total;
  if (room <= 0) return current;
  return current + Math.min(room, replicas - current);
}

/**
 * oldReplicaSetScaleDowns is how far a rolling update shrinks the old ReplicaSets now, oldest
 * first, keeping at least spec.replicas - maxUnavailable pods available. First it removes old
 * pods that are not available (they do not count towards availability, and the new ones that
 * are not available yet still need their room); then, available ones as far as availability
 * above that minimum allows.
 */
export function oldReplicaSetScaleDowns(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: readonly ReplicaSet[]): ScaleAction[] {
  const replicas = d.spec.replicas ?? 1;
  const olds = byAge(oldRSs).filter((rs) => specReplicas(rs) > 0);
  if (olds.length === 0) return [];
  const minAvailable = replicas - maxUnavailable(d);
  const size = new Map(olds.map((rs) => [rs, specReplicas(rs)]));
  const allPods = specReplicas(newRS) + sum(olds, specReplicas);
  const newUnavailable = Math.max(0, specReplicas(newRS) - (newRS === undefined ? 0 : availableOf(newRS)));
  const maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return [];

  // Unhealthy old replicas first.
  let cleaned = 0;
  for (const rs of olds) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = specReplicas(rs) - availableOf(rs);
    if (unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unhealthy);
    size.set(rs, specReplicas(rs) - n);
    cleaned += n;
  }

  // Then available ones, while availability stays above the minimum.
  const availableNow = (newRS === undefined ? 0 : availableOf(newRS)) + sum(olds, (rs) => Math.min(availableOf(rs), size.get(rs) ?? 0));
  let room = availableNow - minAvailable;
  for (const rs of olds) {
    if (room <= 0) break;
    const cur = size.get(rs) ?? 0;
    const n = Math.min(cur, room);
    size.set(rs, cur - n);
    room -= n;
  }
  return olds.filter((rs) => size.get(rs) !== specReplicas(rs)).map((rs) => ({ rs, replicas: size.get(rs) ?? 0 }));
}

/**
 * RecreateStep is the next step of a Recreate rollout: scale every old ReplicaSet to 0; then
 * wait until no old pod is left (terminating ones included); then create the new ReplicaSet;
 * then give it spec.replicas; then it is sized (nothing more to do).
 */
export type RecreateStep =
  | { readonly step: 'scaleDownOld'; readonly actions: ScaleAction[] }
  | { readonly step: 'waitForOldPods' }
  | { readonly step: 'createNew' }
  | { readonly step: 'scaleUpNew'; readonly actions: ScaleAction[] }
  | { readonly step: 'sized' };

/** recreateStep decides the next RecreateStep; oldPodsRunning tells whether any pod of the old ReplicaSets is left. */
export function recreateStep(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: readonly ReplicaSet[], oldPodsRunning: boolean): RecreateStep {
  const downs = byAge(oldRSs)
    .filter((rs) => specReplicas(rs) > 0)
    .map((rs) => ({ rs, replicas: 0 }));
  if (downs.length > 0) return { step: 'scaleDownOld', actions: downs };
  if (oldPodsRunning || oldRSs.some((rs) => (rs.status?.replicas ?? 0) > 0)) return { step: 'waitForOldPods' };
  if (newRS === undefined) return { step: 'createNew' };
  const replicas = d.spec.replicas ?? 1;
  if (specReplicas(newRS) !== replicas) return { step: 'scaleUpNew', actions: [{ rs: newRS, replicas }] };
  return { step: 'sized' };
}

/** isRolloutSaturated: the new ReplicaSet has spec.replicas pods, all available. */
function isSaturated(d: Deployment, newRS: ReplicaSet | undefined): boolean {
  if (newRS === undefined) return false;
  const replicas = d.spec.replicas ?? 1;
  return specReplicas(newRS) === replicas && (newRS.status?.availableReplicas ?? 0) === replicas;
}

/** isScalingEvent: some ReplicaSet with replicas was last sized for another spec.replicas than d's. */
export function isScalingEvent(d: Deployment, rsList: readonly ReplicaSet[]): boolean {
  const want = String(d.spec.replicas ?? 1);
  return rsList.some((rs) => {
    const desired = rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION];
    return specReplicas(rs) > 0 && desired !== undefined && desired !== want;
  });
}

/**
 * scalingActions resizes the ReplicaSets to a changed spec.replicas without rolling out:
 * - a single ReplicaSet with replicas (else the newest ReplicaSet) gets spec.replicas;
 * - a saturated new ReplicaSet: the old ones go to 0;
 * - otherwise (RollingUpdate mid-rollout) the change (up to replicas + maxSurge in all) is
 *   shared in proportion to each ReplicaSet's size when last scaled (its max-replicas
 *   annotation), the largest first; what rounding leaves goes to the first.
 * ReplicaSets whose size or replicas annotations change are returned.
 */
export function scalingActions(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: readonly ReplicaSet[]): ScaleAction[] {
  const replicas = d.spec.replicas ?? 1;
  const all = newRS === undefined ? [...oldRSs] : [newRS, ...oldRSs];
  const active = all.filter((rs) => specReplicas(rs) > 0);
  const out = (sizes: Map<ReplicaSet, number>): ScaleAction[] =>
    [...sizes].filter(([rs, n]) => n !== specReplicas(rs) || needsReplicasAnnotations(d, rs)).map(([rs, n]) => ({ rs, replicas: n }));

  const single = active.length === 1 ? active[0] : active.length === 0 ? (newRS ?? byAge(all).at(-1)) : undefined;
  if (single !== undefined) return out(new Map([[single, replicas]]));
  if (isSaturated(d, newRS)) return out(new Map(active.filter((rs) => rs !== newRS).map((rs) => [rs, 0])));
  if (d.spec.strategy?.type === 'Recreate') return [];

  const allowed = replicas + maxSurge(d);
  const toAdd = allowed - sum(active, specReplicas);
  // Largest first; among equals, the newest first when growing, the oldest first when shrinking.
  const ordered = [...active].sort((a, b) => specReplicas(b) - specReplicas(a) || (toAdd > 0 ? ageMs(b) - ageMs(a) : ageMs(a) - ageMs(b)));
  const sizes = new Map<ReplicaSet, number>();
  let added = 0;
  for (const rs of ordered) {
    const share = proportion(d, rs, toAdd, added);
    sizes.set(rs, specReplicas(rs) + share);
    added += share;
  }
  const first = ordered[0];
  if (first !== undefined && added !== toAdd) sizes.set(first, Math.max(0, (sizes.get(first) ?? 0) + toAdd - added));
  return out(sizes);
}

/** proportion is rs's share of `toAdd` (of which `added` is handed out already). */
function proportion(d: Deployment, rs: ReplicaSet, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const replicas = d.spec.replicas ?? 1;
  let fraction: number;
  if (replicas === 0) fraction = -specReplicas(rs);
  else {
    const annotated = Number.parseInt(rs.metadata.annotations?.[MAX_REPLICAS_ANNOTATION] ?? '', 10);
    const basis = Number.isFinite(annotated) && annotated > 0 ? annotated : Math.max(1, d.status?.replicas ?? 1);
    fraction = Math.round((specReplicas(rs) * (replicas + maxSurge(d))) / basis) - specReplicas(rs);
  }
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/** needsReplicasAnnotations: rs's desired/max replicas annotations differ from what d would write. */
export function needsReplicasAnnotations(d: Deployment, rs: ReplicaSet): boolean {
  return Object.entries(replicasAnnotations(d)).some(([k, v]) => rs.metadata.annotations?.[k] !== v);
}

// ---------------------------------------------------------------------------------------------
// History

/**
 * replicaSetsToPrune are the old ReplicaSets beyond revisionHistoryLimit, lowest revisions
 * first, that are empty (no replicas wanted or reported, status up to date) and not being
 * deleted. No limit set: none.
 */
export function replicaSetsToPrune(d: Deployment, oldRSs: readonly ReplicaSet[]): ReplicaSet[] {
  const limit = d.spec.revisionHistoryLimit;
  if (limit === undefined) return [];
  const alive = oldRSs.filter((rs) => rs.metadata.deletionTimestamp === undefined);
  const excess = alive.length - limit;
  if (excess <= 0) return [];
  const byRevision = [...alive].sort((a, b) => revisionOf(a) - revisionOf(b) || ageMs(a) - ageMs(b));
  return byRevision
    .slice(0, excess)
    .filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && (rs.status?.observedGeneration ?? 0) >= (rs.metadata.generation ?? 0));
}

// ---------------------------------------------------------------------------------------------
// Status and conditions

/** formatTime writes ms since the epoch as RFC 3339 in whole seconds (UTC). */
function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** StatusEvent is a Progressing condition a sync sets for what it did (a new ReplicaSet made or found). */
export interface StatusEvent {
  readonly reason: 'NewReplicaSetCreated' | 'FoundNewReplicaSet';
  readonly message: string;
}

/** DeploymentStatusResult: the status, and when to look again to catch a progress deadline. */
export interface DeploymentStatusResult {
  readonly status: DeploymentStatus;
  readonly recheckInMs?: number;
}

/** isDeploymentComplete: every replica is updated and available, and the status is for the current generation. */
export function isDeploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const replicas = d.spec.replicas ?? 1;
  return (
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.availableReplicas ?? 0) === replicas &&
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** madeProgress: compared with d's current status, more pods are updated, ready or available, or fewer old ones remain. */
function madeProgress(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/**
 * setCondition puts c into conds (a copy): a condition of the same type with the same status and
 * reason is kept as it is; with the same status, its lastTransitionTime is kept.
 */
export function setCondition(conds: readonly DeploymentCondition[], c: DeploymentCondition): DeploymentCondition[] {
  const cur = conds.find((x) => x.type === c.type);
  if (cur !== undefined && cur.status === c.status && cur.reason === c.reason) return [...conds];
  const next = { ...c };
  if (cur !== undefined && cur.status === c.status && cur.lastTransitionTime !== undefined) next.lastTransitionTime = cur.lastTransitionTime;
  return [...conds.filter((x) => x.type !== c.type), next];
}

function condition(type: string, status: DeploymentCondition['status'], reason: string, message: string, nowMs: number): DeploymentCondition {
  const at = formatTime(nowMs);
  return { type, status, lastUpdateTime: at, lastTransitionTime: at, reason, message };
}

/**
 * deploymentStatus computes d's status from its ReplicaSets: replicas, readyReplicas and
 * availableReplicas summed over all (as their statuses report), updatedReplicas of the new
 * one, unavailableReplicas = wanted - available, observedGeneration; and the conditions:
 * - Available: True (MinimumReplicasAvailable) when available >= replicas - maxUnavailable;
 * - Progressing: Unknown DeploymentPaused while paused, Unknown DeploymentResumed right after;
 *   `event` when given (True, and nothing else this time); True NewReplicaSetAvailable once complete (it then stays until
 *   the next rollout); True ReplicaSetUpdated each time it progresses (lastUpdateTime moves);
 *   False ProgressDeadlineExceeded when there was no progress for progressDeadlineSeconds.
 * recheckInMs says when the progress deadline would pass, while a rollout is under way.
 */
export function deploymentStatus(
  d: Deployment,
  newRS: ReplicaSet | undefined,
  allRSs: readonly ReplicaSet[],
  nowMs: number,
  event?: StatusEvent,
): DeploymentStatusResult {
  const replicas = d.spec.replicas ?? 1;
  const available = sum(allRSs, (rs) => rs.status?.availableReplicas ?? 0);
  const status: DeploymentStatus = {
    replicas: sum(allRSs, (rs) => rs.status?.replicas ?? 0),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum(allRSs, (rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sum(allRSs, specReplicas) - available),
  };
  if (d.metadata.generation !== undefined) status.observedGeneration = d.metadata.generation;
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;

  let conds = structuredClone(d.status?.conditions ?? []);
  conds =
    available >= replicas - maxUnavailable(d)
      ? setCondition(conds, condition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', nowMs))
      : setCondition(conds, condition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.', nowMs));

  const rsName = newRS?.metadata.name;
  const what = rsName === undefined ? `Deployment "${d.metadata.name ?? ''}"` : `ReplicaSet "${rsName}"`;
  const deadlineS = d.spec.progressDeadlineSeconds;
  let recheckInMs: number | undefined;
  const progressing = () => conds.find((c) => c.type === 'Progressing');
  if (d.spec.paused === true) {
    conds = setCondition(conds, condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', nowMs));
  } else {
    if (progressing()?.reason === 'DeploymentPaused') {
      conds = setCondition(conds, condition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed', nowMs));
    }
    // The event is this sync's progress; the next sync looks at what follows from it.
    if (event !== undefined) conds = setCondition(conds, condition('Progressing', 'True', event.reason, event.message, nowMs));
    const cur = progressing();
    const done = status.replicas === status.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
    if (deadlineS !== undefined && !done && event === undefined) {
      if (isDeploymentComplete(d, status)) {
        conds = setCondition(conds, condition('Progressing', 'True', 'NewReplicaSetAvailable', `${what} has successfully progressed.`, nowMs));
      } else if (madeProgress(d, status)) {
        const c = condition('Progressing', 'True', 'ReplicaSetUpdated', `${what} is progressing.`, nowMs);
        if (cur?.status === 'True' && cur.lastTransitionTime !== undefined) c.lastTransitionTime = cur.lastTransitionTime;
        conds = [...conds.filter((x) => x.type !== 'Progressing'), c];
      } else if (cur !== undefined && cur.reason !== 'ProgressDeadlineExceeded') {
        const since = Date.parse(cur.lastUpdateTime ?? cur.lastTransitionTime ?? '');
        if (!Number.isNaN(since)) {
          const left = since + deadlineS * 1000 - nowMs;
          if (left < 0) conds = setCondition(conds, condition('Progressing', 'False', 'ProgressDeadlineExceeded', `${what} has timed out progressing.`, nowMs));
          else recheckInMs = left + 1000;
        }
      }
    }
  }
  status.conditions = conds;
  return recheckInMs === undefined ? { status } : { status, recheckInMs };
}

/** sameDeploymentStatus tells whether two statuses say the same. */
export function sameDeploymentStatus(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

// ---------------------------------------------------------------------------------------------

function ageMs(rs: ReplicaSet): number {
  return Date.parse(rs.metadata.creationTimestamp ?? '') || 0;
}

/** byAge sorts oldest first (then by name). */
export function byAge(rsList: readonly ReplicaSet[]): ReplicaSet[] {
  return [...rsList].sort((a, b) => ageMs(a) - ageMs(b) || ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
}
