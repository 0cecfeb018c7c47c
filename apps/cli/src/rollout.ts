// rollout.ts: what `tug rollout`, `tug scale` and `tug set image` decide, apart from the
// requests they make: how far a Deployment's rollout has come, its revisions (the ReplicaSets
// it owns), which template an undo brings back, and the images a `set image` changes.
import type { Container, Deployment, PodTemplateSpec, ReplicaSet } from '@tugboat/api';
import { CliError, UsageError } from './errors.ts';

/** REVISION_ANNOTATION numbers a Deployment's revisions, on it and on its ReplicaSets. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** CHANGE_CAUSE_ANNOTATION says why a revision was made (the command that made it). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/** RESTARTED_AT_ANNOTATION on the pod template: `tug rollout restart` sets it to now. */
export const RESTARTED_AT_ANNOTATION = 'tugboat.io/restartedAt';
/** POD_TEMPLATE_HASH_LABEL: the controller's label on a ReplicaSet's template and pods. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** RolloutState is how far a Deployment's rollout has come: done, failed (its progress
 *  deadline passed), or still going; message is the line to print. */
export interface RolloutState {
  readonly done: boolean;
  readonly failed: boolean;
  readonly message: string;
}

/**
 * rolloutState reads a Deployment's status. Done once the controller has seen the latest
 * spec (observedGeneration >= generation), every replica is updated and available and no old
 * replica remains; failed when its Progressing condition says ProgressDeadlineExceeded.
 */
export function rolloutState(d: Deployment): RolloutState {
  const name = d.metadata.name ?? '';
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
    return { done: false, failed: false, message: `Waiting for deployment "${name}" spec update to be observed...` };
  }
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    const why = progressing.message ? `: ${progressing.message}` : '';
    return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline${why}` };
  }
  const want = d.spec.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  const total = st.replicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const waiting = (what: string) => ({ done: false, failed: false, message: `Waiting for deployment "${name}" rollout to finish: ${what}` });
  const paused = d.spec.paused === true ? ` (the deployment is paused: tug rollout resume deployment/${name})` : '';
  if (updated < want) return waiting(`${updated} out of ${want} new replicas have been updated...${paused}`);
  if (total > updated) return waiting(`${total - updated} old replicas are pending termination...${paused}`);
  if (available < updated) return waiting(`${available} of ${updated} updated replicas are available...`);
  return { done: true, failed: false, message: `deployment "${name}" successfully rolled out` };
}

/** Revision is one revision of a Deployment: the ReplicaSet holding its template. */
export interface Revision {
  readonly revision: number;
  readonly replicaSet: ReplicaSet;
  readonly changeCause: string | undefined;
}

/** revisionOf reads the revision annotation of an object (0 when it has none or it is not a
 *  whole number). */
export function revisionOf(obj: { metadata: { annotations?: Record<string, string> | undefined } }): number {
  const text = obj.metadata.annotations?.[REVISION_ANNOTATION] ?? '';
  return /^\d+$/.test(text) ? Number(text) : 0;
}

/** ownedBy tells whether a ReplicaSet's controller is the Deployment (by uid). */
export function ownedBy(rs: ReplicaSet, d: Deployment): boolean {
  const uid = d.metadata.uid;
  return uid !== undefined && (rs.metadata.ownerReferences ?? []).some((o) => o.controller === true && o.uid === uid);
}

/** revisionsOf lists the revisions of a Deployment from the ReplicaSets it owns, oldest first;
 *  ReplicaSets without a revision number are left out. */
export function revisionsOf(d: Deployment, replicaSets: readonly ReplicaSet[]): Revision[] {
  return replicaSets
    .filter((rs) => ownedBy(rs, d) && revisionOf(rs) > 0)
    .map((rs) => ({ revision: revisionOf(rs), replicaSet: rs, changeCause: rs.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] }))
    .sort((a, b) => a.revision - b.revision);
}

/** findRevision returns revision `n`; a CliError listing the revisions there are when there is
 *  no such revision. */
export function findRevision(d: Deployment, revisions: readonly Revision[], n: number): Revision {
  const found = revisions.find((r) => r.revision === n);
  if (found !== undefined) return found;
  const known = revisions.map((r) => r.revision).join(', ') || 'none';
  throw new CliError(`deployment ${d.metadata.name ?? ''} has no revision ${n} (its revisions: ${known})`);
}

/** rollbackTarget is the revision an undo goes back to: `to` when given (> 0), else the one
 *  before the current (the newest) revision. */
export function rollbackTarget(d: Deployment, revisions: readonly Revision[], to: number | undefined): Revision {
  if (to !== undefined && to > 0) return findRevision(d, revisions, to);
  const current = Math.max(revisionOf(d), ...revisions.map((r) => r.revision));
  const previous = revisions.filter((r) => r.revision < current).at(-1);
  if (previous === undefined) throw new CliError(`deployment ${d.metadata.name ?? ''} has no previous revision to roll back to`);
  return previous;
}

/** templateOf is the pod template of a revision as a Deployment holds it: without the
 *  controller's pod-template-hash label. */
export function templateOf(rs: ReplicaSet): PodTemplateSpec {
  const t = structuredClone(rs.spec.template);
  const labels = t.metadata?.labels;
  if (labels !== undefined) delete labels[POD_TEMPLATE_HASH_LABEL];
  return t;
}

/** sameTemplate compares pod templates, key order aside. */
export function sameTemplate(a: PodTemplateSpec, b: PodTemplateSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

/** parseImageSettings reads CONTAINER=IMAGE arguments ("*" for every container); a usage
 *  error names a malformed or repeated one. */
export function parseImageSettings(args: readonly string[], command: string): Map<string, string> {
  if (args.length === 0) throw new UsageError('give at least one CONTAINER=IMAGE', command);
  const settings = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    const container = a.slice(0, eq);
    const image = a.slice(eq + 1);
    if (eq <= 0 || image === '' || /\s/.test(image)) throw new UsageError(`${JSON.stringify(a)} is not CONTAINER=IMAGE`, command);
    if (settings.has(container)) throw new UsageError(`container ${JSON.stringify(container)} is given twice`, command);
    settings.set(container, image);
  }
  return settings;
}

/**
 * setImages applies image settings to a pod template's containers, in place; returns whether any image changed. A CliError names a container the template does
 * not have, listing those it has (`what` names the object: "deployment web").
 */
export function setImages(template: PodTemplateSpec, settings: ReadonlyMap<string, string>, what: string): boolean {
  const all: Container[] = template.spec?.containers ?? [];
  for (const name of settings.keys()) {
    if (name !== '*' && !all.some((c) => c.name === name)) {
      throw new CliError(`${what} has no container "${name}"; its containers: ${all.map((c) => c.name).join(', ') || 'none'}`);
    }
  }
  let changed = false;
  for (const c of all) {
    const image = settings.get(c.name) ?? settings.get('*');
    if (image !== undefined && c.image !== image) {
      c.image = image;
      changed = true;
    }
  }
  return changed;
}

/** commandLine writes a tug command line from its arguments, quoting those that need it (for
 *  the change-cause annotation). */
export function commandLine(args: readonly string[]): string {
  return ['tug', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
