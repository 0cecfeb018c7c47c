// replicaset-controller.ts: the ReplicaSet controller, the I/O around replicaset-plan.ts. Each
// ReplicaSet key is synced from the watch caches: claim pods (adopt matching orphans and release
// non-matching ones, by compare-and-swap), create or delete pods to reach spec.replicas, and
// write the status (status-only, compare-and-swap, only when it changed). Pod events wake the
// ReplicaSet that owns the pod (or, for an orphan, every ReplicaSet whose selector matches).
import { matches } from '@tugboat/api';
import type { Pod, ReplicaSet } from '@tugboat/api';
import { isNotFound, objectKey, splitKey } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import type { Controller, ControllerContext } from './runtime/index.ts';
import { WorkQueue } from './runtime/index.ts';
import { Expectations } from './expectations.ts';
import { controllerRefOf, withOwner, withoutOwner } from './owner-refs.ts';
import { isPodActive, isPodTerminating } from './pod-readiness.ts';
import { BURST_REPLICAS, planReplicaSet, podFromTemplate, replicaSetStatus, sameReplicaSetStatus } from './replicaset-plan.ts';
import { slowStart } from './slow-start.ts';
import { reportSyncError, waitForSyncOrAbort } from './loop.ts';

export interface ReplicaSetControllerOptions {
  /** ReplicaSets synced at once. Default 4. */
  readonly workers?: number;
  /** Most pods created or deleted by one sync. Default BURST_REPLICAS (500). */
  readonly burstReplicas?: number;
  /** How long unobserved creations and deletions hold back a ReplicaSet, ms. Default 60,000. */
  readonly expectationsTtlMs?: number;
}

/** ReplicaSetController keeps spec.replicas active pods of each ReplicaSet's template. */
export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  readonly #opts: ReplicaSetControllerOptions;

  constructor(opts: ReplicaSetControllerOptions = {}) {
    this.#opts = opts;
  }

  async run(ctx: ControllerContext): Promise<void> {
    await new ReplicaSetTerm(ctx, this.#opts).run();
  }
}

/** ReplicaSetTerm is the controller's state for one leadership term. */
class ReplicaSetTerm {
  readonly #ctx: ControllerContext;
  readonly #workers: number;
  readonly #burst: number;
  readonly #queue = new WorkQueue();
  readonly #expectations: Expectations;
  readonly #replicaSets: Informer<ReplicaSet>;
  readonly #pods: Informer<Pod>;
  /** pod key -> key of the ReplicaSet that controlled it when last seen (to wake it on deletion). */
  readonly #podOwner = new Map<string, string>();

  constructor(ctx: ControllerContext, opts: ReplicaSetControllerOptions) {
    this.#ctx = ctx;
    this.#workers = opts.workers ?? 4;
    this.#burst = opts.burstReplicas ?? BURST_REPLICAS;
    this.#expectations = new Expectations(opts.expectationsTtlMs ?? 60_000);
    this.#replicaSets = ctx.informers.informer('ReplicaSet');
    this.#pods = ctx.informers.informer('Pod');
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    const removers = [
      this.#replicaSets.addHandler((key) => this.#queue.add(key)),
      this.#pods.addHandler({
        onAdd: (key) => this.#podChanged(key, true),
        onUpdate: (key) => this.#podChanged(key, false),
        onDelete: (key) => this.#podChanged(key, false),
      }),
    ];
    try {
      if (!(await waitForSyncOrAbort(ctx, 'ReplicaSet', 'Pod'))) return;
      for (const key of this.#pods.keys()) this.#podChanged(key, false);
      for (const key of this.#replicaSets.keys()) this.#queue.add(key);
      await this.#queue.run(ctx.signal, this.#workers, (key) => this.#sync(key), (key, err, retryInMs) => reportSyncError(ctx, key, err, retryInMs));
    } finally {
      for (const remove of removers) remove();
    }
  }

  #podChanged(podKey: string, added: boolean): void {
    const wake = new Set<string>();
    const before = this.#podOwner.get(podKey);
    if (before !== undefined) wake.add(before);
    this.#podOwner.delete(podKey);
    const pod = this.#pods.get(podKey);
    if (pod === undefined || isPodTerminating(pod)) this.#expectations.deletionObserved(podKey);
    if (pod !== undefined) {
      const ns = pod.metadata.namespace ?? '';
      const ref = controllerRefOf(pod.metadata);
      if (ref?.kind === 'ReplicaSet') {
        const rsKey = `${ns}/${ref.name}`;
        if (this.#replicaSets.get(rsKey)?.metadata.uid === ref.uid) {
          this.#podOwner.set(podKey, rsKey);
          if (added) this.#expectations.creationObserved(rsKey);
          wake.add(rsKey);
        }
      } else if (ref === undefined && isPodActive(pod)) {
        for (const rs of this.#replicaSets.list((r) => r.metadata.namespace === ns && matches(r.spec.selector, pod.metadata.labels))) {
          wake.add(objectKey(rs));
        }
      }
    }
    for (const key of wake) this.#queue.add(key);
  }

  async #sync(key: string): Promise<void> {
    const ctx = this.#ctx;
    const rs = this.#replicaSets.get(key);
    if (rs === undefined) {
      this.#expectations.forget(key);
      return;
    }
    const { namespace } = splitKey(key);
    const pods = this.#pods.list((p) => p.metadata.namespace === namespace);
    const manage = rs.metadata.deletionTimestamp === undefined && this.#expectations.satisfied(key, ctx.now());
    const plan = planReplicaSet(rs, pods, manage, this.#burst);

    if (plan.adopt.length > 0) await this.#checkNotDeleted(rs);
    await Promise.all([...plan.adopt.map((p) => this.#adopt(rs, p)), ...plan.release.map((p) => this.#release(rs, p))]);

    let manageError: unknown;
    if (plan.create > 0) manageError = await this.#createPods(key, rs, plan.create);
    let owned = plan.owned;
    if (plan.delete.length > 0) {
      const { deleted, error } = await this.#deletePods(key, rs, plan.delete);
      manageError = error;
      owned = owned.filter((p) => !deleted.has(p.metadata.uid ?? ''));
    }

    const { status, recheckInMs } = replicaSetStatus(rs, owned, ctx.now());
    if (!sameReplicaSetStatus(rs.status, status)) {
      await ctx.client.replicaSets.updateStatus({ ...structuredClone(rs), status });
    }
    if (manageError !== undefined) throw manageError;
    if (recheckInMs !== undefined) this.#queue.addAfter(key, recheckInMs + 100);
  }

  /** checkNotDeleted reads rs live before adopting: a stale cache must not adopt for a ReplicaSet that is gone. */
  async #checkNotDeleted(rs: ReplicaSet): Promise<void> {
    const live = await this.#ctx.client.replicaSets.get(rs.metadata.namespace ?? '', rs.metadata.name ?? '');
    if (live.metadata.uid !== rs.metadata.uid || live.metadata.deletionTimestamp !== undefined) {
      throw new Error(`ReplicaSet ${objectKey(rs)}: not adopting pods: it was deleted (uid ${rs.metadata.uid ?? ''})`);
    }
  }

  async #adopt(rs: ReplicaSet, pod: Pod): Promise<void> {
    await this.#updateIfPresent({ ...structuredClone(pod), metadata: withOwner(structuredClone(pod.metadata), rs) });
    this.#ctx.log.debug({ replicaSet: objectKey(rs), pod: pod.metadata.name }, 'adopted pod');
  }

  async #release(rs: ReplicaSet, pod: Pod): Promise<void> {
    await this.#updateIfPresent({ ...structuredClone(pod), metadata: withoutOwner(structuredClone(pod.metadata), rs.metadata.uid ?? '') });
    this.#ctx.log.debug({ replicaSet: objectKey(rs), pod: pod.metadata.name }, 'released pod');
  }

  /** updateIfPresent writes pod by compare-and-swap; a pod deleted meanwhile is no error. */
  async #updateIfPresent(pod: Pod): Promise<void> {
    try {
      await this.#ctx.client.pods.update(pod);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** createPods creates `count` pods in slow-start batches; returns the error that stopped it, if any. */
  async #createPods(key: string, rs: ReplicaSet, count: number): Promise<unknown> {
    const ctx = this.#ctx;
    const template = podFromTemplate(rs);
    this.#expectations.expectCreations(key, count, ctx.now());
    const { succeeded, error } = await slowStart(count, async () => {
      const pod = await ctx.client.pods.create(structuredClone(template), { signal: ctx.signal });
      ctx.events.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name ?? ''}`);
    });
    // Creations that failed or were never tried will not be observed.
    this.#expectations.creationObserved(key, count - succeeded);
    if (error === undefined) return undefined;
    ctx.events.record(rs, 'Warning', 'FailedCreate', `Error creating: ${(error as Error).message}`);
    return new Error(`ReplicaSet ${key}: created ${succeeded} of ${count} pods: ${(error as Error).message}`, { cause: error });
  }

  /** deletePods deletes the pods (gracefully, as the API does for bound pods); returns the uids gone and the first error. */
  async #deletePods(key: string, rs: ReplicaSet, pods: readonly Pod[]): Promise<{ deleted: Set<string>; error?: unknown }> {
    const ctx = this.#ctx;
    this.#expectations.expectDeletions(key, pods.map(objectKey), ctx.now());
    const deleted = new Set<string>();
    let error: unknown;
    await Promise.all(
      pods.map(async (p) => {
        const name = p.metadata.name ?? '';
        try {
          await ctx.client.pods.delete(p.metadata.namespace ?? '', name, { signal: ctx.signal, ...(p.metadata.uid === undefined ? {} : { expectedUid: p.metadata.uid }) });
          ctx.events.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${name}`);
          deleted.add(p.metadata.uid ?? '');
        } catch (err) {
          this.#expectations.deletionObserved(objectKey(p));
          if (isNotFound(err)) deleted.add(p.metadata.uid ?? '');
          else {
            ctx.events.record(rs, 'Warning', 'FailedDelete', `Error deleting pod ${name}: ${(err as Error).message}`);
            error ??= new Error(`ReplicaSet ${key}: deleting pod ${name}: ${(err as Error).message}`, { cause: err });
          }
        }
      }),
    );
    return error === undefined ? { deleted } : { deleted, error };
  }
}

