// deployment-controller.ts: the Deployment controller, the I/O around deployment-plan.ts. Each
// Deployment key is synced from the watch caches: claim ReplicaSets (adopt matching orphans,
// release non-matching ones), find or make the ReplicaSet of the current template, then either
// resize (paused, or spec.replicas changed: proportional scaling) or take one rollout step
// (RollingUpdate or Recreate), prune old revisions once complete, and write the status. Every
// write is compare-and-swap or a create by name, so a deposed leader cannot undo a step.
import { matches } from '@tugboat/api';
import type { Deployment, Pod, ReplicaSet } from '@tugboat/api';
import { isAlreadyExists, isNotFound, objectKey } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import type { Controller, ControllerContext } from './runtime/index.ts';
import { WorkQueue } from './runtime/index.ts';
import {
  REVISION_ANNOTATION,
  deploymentStatus,
  findNewReplicaSet,
  isDeploymentComplete,
  isScalingEvent,
  newReplicaSetAnnotations,
  newReplicaSetFor,
  newReplicaSetTarget,
  nextRevision,
  oldReplicaSetScaleDowns,
  recreateStep,
  replicaSetsToPrune,
  replicasAnnotations,
  revisionOf,
  sameDeploymentStatus,
  sameTemplate,
  scalingActions,
} from './deployment-plan.ts';
import type { ScaleAction, StatusEvent } from './deployment-plan.ts';
import { claimOf, controllerRefOf, withOwner, withoutOwner } from './owner-refs.ts';
import { reportSyncError, waitForSyncOrAbort } from './loop.ts';

export interface DeploymentControllerOptions {
  /** Deployments synced at once. Default 4. */
  readonly workers?: number;
}

/** DeploymentController rolls Deployments out as revision ReplicaSets. */
export class DeploymentController implements Controller {
  readonly name = 'deployment';
  readonly #opts: DeploymentControllerOptions;

  constructor(opts: DeploymentControllerOptions = {}) {
    this.#opts = opts;
  }

  async run(ctx: ControllerContext): Promise<void> {
    await new DeploymentTerm(ctx, this.#opts.workers ?? 4).run();
  }
}

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b).length && ka.every((k) => a?.[k] === b[k]);
}

/** DeploymentTerm is the controller's state for one leadership term. */
class DeploymentTerm {
  readonly #ctx: ControllerContext;
  readonly #workers: number;
  readonly #queue = new WorkQueue();
  readonly #deployments: Informer<Deployment>;
  readonly #replicaSets: Informer<ReplicaSet>;
  readonly #pods: Informer<Pod>;
  /** ReplicaSet key -> key of the Deployment that controlled it when last seen. */
  readonly #rsOwner = new Map<string, string>();
  /** Pod key -> key of the ReplicaSet that controlled it when last seen (Recreate waits for old pods to go). */
  readonly #podOwner = new Map<string, string>();

  constructor(ctx: ControllerContext, workers: number) {
    this.#ctx = ctx;
    this.#workers = workers;
    this.#deployments = ctx.informers.informer('Deployment');
    this.#replicaSets = ctx.informers.informer('ReplicaSet');
    this.#pods = ctx.informers.informer('Pod');
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    const removers = [
      this.#deployments.addHandler((key) => this.#queue.add(key)),
      this.#replicaSets.addHandler((key) => this.#replicaSetChanged(key)),
      this.#pods.addHandler((key) => this.#podChanged(key)),
    ];
    try {
      if (!(await waitForSyncOrAbort(ctx, 'Deployment', 'ReplicaSet', 'Pod'))) return;
      for (const key of this.#replicaSets.keys()) this.#replicaSetChanged(key);
      for (const key of this.#pods.keys()) this.#podChanged(key);
      for (const key of this.#deployments.keys()) this.#queue.add(key);
      await this.#queue.run(ctx.signal, this.#workers, (key) => this.#sync(key), (key, err, retryInMs) => reportSyncError(ctx, key, err, retryInMs));
    } finally {
      for (const remove of removers) remove();
    }
  }

  #replicaSetChanged(rsKey: string): void {
    const wake = new Set<string>();
    const before = this.#rsOwner.get(rsKey);
    if (before !== undefined) wake.add(before);
    this.#rsOwner.delete(rsKey);
    const rs = this.#replicaSets.get(rsKey);
    if (rs !== undefined) {
      const ns = rs.metadata.namespace ?? '';
      const ref = controllerRefOf(rs.metadata);
      if (ref?.kind === 'Deployment') {
        const dKey = `${ns}/${ref.name}`;
        this.#rsOwner.set(rsKey, dKey);
        wake.add(dKey);
      } else if (ref === undefined) {
        for (const d of this.#deployments.list((x) => x.metadata.namespace === ns && matches(x.spec.selector, rs.metadata.labels))) wake.add(objectKey(d));
      }
    }
    for (const key of wake) this.#queue.add(key);
  }

  /** podChanged wakes a Recreate Deployment whose old pods may all be gone now. */
  #podChanged(podKey: string): void {
    const pod = this.#pods.get(podKey);
    const ref = pod === undefined ? undefined : controllerRefOf(pod.metadata);
    let rsKey = this.#podOwner.get(podKey);
    if (pod !== undefined && ref?.kind === 'ReplicaSet') {
      rsKey = `${pod.metadata.namespace ?? ''}/${ref.name}`;
      this.#podOwner.set(podKey, rsKey);
    } else this.#podOwner.delete(podKey);
    const dKey = rsKey === undefined ? undefined : this.#rsOwner.get(rsKey);
    if (dKey !== undefined && this.#deployments.get(dKey)?.spec.strategy?.type === 'Recreate') this.#queue.add(dKey);
  }

  async #sync(key: string): Promise<void> {
    const d = this.#deployments.get(key);
    if (d === undefined) return;
    const rsList = await this.#claimReplicaSets(d);
    const found = findNewReplicaSet(d, rsList);
    const oldRSs = rsList.filter((rs) => rs !== found);
    if (d.metadata.deletionTimestamp !== undefined) return this.#writeStatus(d, found, rsList);

    // The Deployment carries its current revision: the new ReplicaSet's.
    if (found !== undefined && revisionOf(found) > 0 && d.metadata.annotations?.[REVISION_ANNOTATION] !== String(revisionOf(found))) {
      const next = structuredClone(d);
      next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [REVISION_ANNOTATION]: String(revisionOf(found)) };
      await this.#ctx.client.deployments.update(next);
      return;
    }

    if (d.spec.paused === true || isScalingEvent(d, rsList)) return this.#resize(d, found, oldRSs);
    if (d.spec.strategy?.type === 'Recreate') return this.#recreate(d, found, oldRSs);
    return this.#rollingUpdate(d, found, oldRSs);
  }

  /** resize applies a change of spec.replicas (or keeps a paused Deployment's sizes): no rollout step. */
  async #resize(d: Deployment, found: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    const { rs: newRS, event } = await this.#ensureNewReplicaSet(d, found, oldRSs, false);
    const actions = scalingActions(d, newRS, oldRSs);
    const scaled = await this.#scaleAll(d, actions);
    const all = this.#current(newRS === undefined ? oldRSs : [newRS, ...oldRSs], scaled);
    if (d.spec.paused === true && actions.length === 0) await this.#prune(d, oldRSs);
    await this.#writeStatus(d, newRS === undefined ? undefined : scaled.get(newRS) ?? newRS, all, event);
  }

  async #rollingUpdate(d: Deployment, found: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    const { rs: newRS, event } = await this.#ensureNewReplicaSet(d, found, oldRSs, true);
    const target = newReplicaSetTarget(d, newRS, oldRSs);
    let actions: ScaleAction[] = newRS !== undefined && target !== (newRS.spec.replicas ?? 1) ? [{ rs: newRS, replicas: target }] : [];
    if (actions.length === 0) actions = oldReplicaSetScaleDowns(d, newRS, oldRSs);
    const scaled = await this.#scaleAll(d, actions);
    const latestNew = newRS === undefined ? undefined : (scaled.get(newRS) ?? newRS);
    const all = this.#current(latestNew === undefined ? oldRSs : [latestNew, ...oldRSs], scaled);
    if (actions.length === 0 && isDeploymentComplete(d, deploymentStatus(d, latestNew, all, this.#ctx.now()).status)) await this.#prune(d, oldRSs);
    await this.#writeStatus(d, latestNew, all, event);
  }

  async #recreate(d: Deployment, found: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    let { rs: newRS, event } = await this.#ensureNewReplicaSet(d, found, oldRSs, false);
    let step = recreateStep(d, newRS, oldRSs, this.#oldPodsRunning(oldRSs));
    if (step.step === 'createNew') {
      ({ rs: newRS, event } = await this.#ensureNewReplicaSet(d, undefined, oldRSs, true));
      step = recreateStep(d, newRS, oldRSs, false);
    }
    const all = newRS === undefined ? [...oldRSs] : [newRS, ...oldRSs];
    const scaled = step.step === 'scaleDownOld' || step.step === 'scaleUpNew' ? await this.#scaleAll(d, step.actions) : new Map<ReplicaSet, ReplicaSet>();
    const latestNew = newRS === undefined ? undefined : (scaled.get(newRS) ?? newRS);
    const current = this.#current(all, scaled);
    if (step.step === 'sized' && isDeploymentComplete(d, deploymentStatus(d, latestNew, current, this.#ctx.now()).status)) await this.#prune(d, oldRSs);
    await this.#writeStatus(d, latestNew, current, event);
  }

  /** oldPodsRunning: a pod of an old ReplicaSet is not finished (terminating ones count). */
  #oldPodsRunning(oldRSs: readonly ReplicaSet[]): boolean {
    const uids = new Set(oldRSs.map((rs) => rs.metadata.uid));
    return this.#pods
      .list((p) => uids.has(controllerRefOf(p.metadata)?.uid))
      .some((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  }
  /**
   * claimReplicaSets returns the ReplicaSets d controls once matching orphans are adopted and
   * owned ones that stopped matching are released.
   */
  async #claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const ns = d.metadata.namespace ?? '';
    const owned: ReplicaSet[] = [];
    const adopt: ReplicaSet[] = [];
    const release: ReplicaSet[] = [];
    for (const rs of this.#replicaSets.list((r) => r.metadata.namespace === ns)) {
      const claim = claimOf(d, d.spec.selector, rs.metadata);
      if (claim === 'own') owned.push(rs);
      else if (claim === 'adopt') adopt.push(rs);
      else if (claim === 'release') release.push(rs);
    }
    const client = this.#ctx.client;
    if (adopt.length > 0) {
      const live = await client.deployments.get(ns, d.metadata.name ?? '');
      if (live.metadata.uid !== d.metadata.uid || live.metadata.deletionTimestamp !== undefined) {
        throw new Error(`Deployment ${objectKey(d)}: not adopting ReplicaSets: it was deleted (uid ${d.metadata.uid ?? ''})`);
      }
    }
    const adopted = await Promise.all(adopt.map((rs) => client.replicaSets.update({ ...structuredClone(rs), metadata: withOwner(structuredClone(rs.metadata), d) })));
    await Promise.all(release.map((rs) => client.replicaSets.update({ ...structuredClone(rs), metadata: withoutOwner(structuredClone(rs.metadata), d.metadata.uid ?? '') })));
    return [...owned, ...adopted];
  }

  /**
   * ensureNewReplicaSet keeps the new ReplicaSet's annotations (revision, those copied from the
   * Deployment) and minReadySeconds up to date, or creates it when `create` and there is none.
   */
  async #ensureNewReplicaSet(d: Deployment, found: ReplicaSet | undefined, oldRSs: readonly ReplicaSet[], create: boolean): Promise<{ rs?: ReplicaSet; event?: StatusEvent }> {
    const client = this.#ctx.client;
    const revision = nextRevision(oldRSs);
    const minReadySeconds = d.spec.minReadySeconds ?? 0;
    if (found !== undefined) {
      const annotations = newReplicaSetAnnotations(d, found, revision);
      if (sameRecord(found.metadata.annotations, annotations) && (found.spec.minReadySeconds ?? 0) === minReadySeconds) return { rs: found };
      const next = structuredClone(found);
      next.metadata.annotations = annotations;
      next.spec.minReadySeconds = minReadySeconds;
      const rs = await client.replicaSets.update(next);
      if (revisionOf(found) >= revision) return { rs };
      return { rs, event: { reason: 'FoundNewReplicaSet', message: `Found new replica set "${rs.metadata.name ?? ''}"` } };
    }
    if (!create) return {};
    const want = newReplicaSetFor(d, revision, newReplicaSetTarget(d, undefined, oldRSs));
    const name = want.metadata.name ?? '';
    let rs: ReplicaSet;
    try {
      rs = await client.replicaSets.create(want);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing = await client.replicaSets.get(want.metadata.namespace ?? '', name);
      if (controllerRefOf(existing.metadata)?.uid === d.metadata.uid && sameTemplate(existing.spec.template, d.spec.template)) return { rs: existing };
      // Another template hashed to the same name: the next hash mixes in a higher collision count.
      const next = structuredClone(d);
      next.status = { ...(next.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
      await client.deployments.updateStatus(next);
      throw new Error(`Deployment ${objectKey(d)}: ReplicaSet ${name} exists with another template; collisionCount raised to ${next.status.collisionCount ?? 0}`);
    }
    const replicas = rs.spec.replicas ?? 1;
    if (replicas > 0) this.#ctx.events.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${name} to ${replicas}`);
    return { rs, event: { reason: 'NewReplicaSetCreated', message: `Created new replica set "${name}"` } };
  }

  /** scaleAll applies the scale actions (compare-and-swap each); returns the ReplicaSets as written. */
  async #scaleAll(d: Deployment, actions: readonly ScaleAction[]): Promise<Map<ReplicaSet, ReplicaSet>> {
    const out = new Map<ReplicaSet, ReplicaSet>();
    await Promise.all(
      actions.map(async ({ rs, replicas }) => {
        const before = rs.spec.replicas ?? 1;
        const next = structuredClone(rs);
        next.spec.replicas = replicas;
        next.metadata.annotations = { ...(next.metadata.annotations ?? {}), ...replicasAnnotations(d) };
        out.set(rs, await this.#ctx.client.replicaSets.update(next));
        const name = rs.metadata.name ?? '';
        if (replicas > before) this.#ctx.events.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${name} to ${replicas}`);
        if (replicas < before) this.#ctx.events.record(d, 'Normal', 'ScalingReplicaSet', `Scaled down replica set ${name} to ${replicas}`);
      }),
    );
    return out;
  }

  #current(rsList: readonly ReplicaSet[], scaled: ReadonlyMap<ReplicaSet, ReplicaSet>): ReplicaSet[] {
    return rsList.map((rs) => scaled.get(rs) ?? rs);
  }

  /** prune deletes old ReplicaSets beyond revisionHistoryLimit. */
  async #prune(d: Deployment, oldRSs: readonly ReplicaSet[]): Promise<void> {
    const client = this.#ctx.client;
    await Promise.all(
      replicaSetsToPrune(d, oldRSs).map(async (rs) => {
        try {
          await client.replicaSets.delete(rs.metadata.namespace ?? '', rs.metadata.name ?? '', { expectedResourceVersion: rs.metadata.resourceVersion });
          this.#ctx.log.info({ deployment: objectKey(d), replicaSet: rs.metadata.name, revision: revisionOf(rs) }, 'old revision pruned');
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    );
  }

  async #writeStatus(d: Deployment, newRS: ReplicaSet | undefined, all: readonly ReplicaSet[], event?: StatusEvent): Promise<void> {
    const { status, recheckInMs } = deploymentStatus(d, newRS, all, this.#ctx.now(), event);
    if (!sameDeploymentStatus(d.status, status)) await this.#ctx.client.deployments.updateStatus({ ...structuredClone(d), status });
    if (recheckInMs !== undefined) this.#queue.addAfter(objectKey(d), recheckInMs);
  }
}

