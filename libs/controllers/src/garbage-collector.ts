// garbage-collector.ts: the garbage collector, the I/O around garbage.ts. It watches the kinds
// that have owners (Pods, ReplicaSets) and the kinds that own (ReplicaSets, Deployments). A
// dependent whose owners are all missing from the watch cache is checked again with a live read
// of each owner (a cache can lag behind a create), then deleted (a background, graceful delete:
// a bound pod is only marked, and the dependents of a deleted ReplicaSet follow in turn), on
// condition that it has not changed since (so one orphaned or adopted meanwhile stays).
import { isKind, isNamespaced } from '@tugboat/api';
import type { Kind, ObjectMeta, OwnerReference, Pod, ReplicaSet } from '@tugboat/api';
import { isNotFound, objectKey, splitKey } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import type { Controller, ControllerContext } from './runtime/index.ts';
import { WorkQueue } from './runtime/index.ts';
import { ownerRefText, ownersToVerify } from './garbage.ts';
import type { OwnerLookup } from './garbage.ts';
import { reportSyncError, waitForSyncOrAbort } from './loop.ts';

/** The kinds whose objects the collector deletes when their owners are gone. */
type DependentKind = 'Pod' | 'ReplicaSet';

export interface GarbageCollectorOptions {
  /** Dependents checked at once. Default 4. */
  readonly workers?: number;
}

/** GarbageCollector deletes Pods and ReplicaSets whose owners are all gone. */
export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector';
  readonly #opts: GarbageCollectorOptions;

  constructor(opts: GarbageCollectorOptions = {}) {
    this.#opts = opts;
  }

  async run(ctx: ControllerContext): Promise<void> {
    await new CollectorTerm(ctx, this.#opts.workers ?? 4).run();
  }
}

/** Queue keys are "Kind:namespace/name". */
function queueKey(kind: DependentKind, key: string): string {
  return `${kind}:${key}`;
}

class CollectorTerm {
  readonly #ctx: ControllerContext;
  readonly #workers: number;
  readonly #queue = new WorkQueue();
  readonly #pods: Informer<Pod>;
  readonly #replicaSets: Informer<ReplicaSet>;
  /** Owner kinds with a watch cache; other kinds are read live. */
  readonly #ownerCaches: ReadonlyMap<string, Informer<{ kind: string; metadata: ObjectMeta }>>;

  constructor(ctx: ControllerContext, workers: number) {
    this.#ctx = ctx;
    this.#workers = workers;
    this.#pods = ctx.informers.informer('Pod');
    this.#replicaSets = ctx.informers.informer('ReplicaSet');
    this.#ownerCaches = new Map<string, Informer<{ kind: string; metadata: ObjectMeta }>>([
      ['ReplicaSet', this.#replicaSets],
      ['Deployment', ctx.informers.informer('Deployment')],
    ]);
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    const removers = [
      this.#pods.addHandler({ onAdd: (k) => this.#queue.add(queueKey('Pod', k)), onUpdate: (k) => this.#queue.add(queueKey('Pod', k)) }),
      this.#replicaSets.addHandler({
        onAdd: (k) => this.#queue.add(queueKey('ReplicaSet', k)),
        onUpdate: (k) => this.#queue.add(queueKey('ReplicaSet', k)),
        onDelete: (k) => this.#ownerDeleted('ReplicaSet', k),
      }),
      this.#ownerCaches.get('Deployment')!.addHandler({ onDelete: (k) => this.#ownerDeleted('Deployment', k) }),
    ];
    try {
      if (!(await waitForSyncOrAbort(ctx, 'Pod', 'ReplicaSet', 'Deployment'))) return;
      for (const p of this.#pods.list((o) => (o.metadata.ownerReferences?.length ?? 0) > 0)) this.#queue.add(queueKey('Pod', objectKey(p)));
      for (const rs of this.#replicaSets.list((o) => (o.metadata.ownerReferences?.length ?? 0) > 0)) this.#queue.add(queueKey('ReplicaSet', objectKey(rs)));
      await this.#queue.run(ctx.signal, this.#workers, (key) => this.#sync(key), (key, err, retryInMs) => reportSyncError(ctx, key, err, retryInMs));
    } finally {
      for (const remove of removers) remove();
    }
  }

  /** ownerDeleted queues the dependents that name the deleted owner. */
  #ownerDeleted(kind: string, ownerKey: string): void {
    const { namespace, name } = splitKey(ownerKey);
    const names = (o: { metadata: ObjectMeta }) =>
      o.metadata.namespace === namespace && (o.metadata.ownerReferences ?? []).some((r) => r.kind === kind && r.name === name);
    for (const p of this.#pods.list(names)) this.#queue.add(queueKey('Pod', objectKey(p)));
    for (const rs of this.#replicaSets.list(names)) this.#queue.add(queueKey('ReplicaSet', objectKey(rs)));
  }

  #cachedLookup: OwnerLookup = (ref, namespace) => {
    const cache = this.#ownerCaches.get(ref.kind);
    if (cache === undefined) return isKind(ref.kind) ? 'absent' : 'unknown'; // Served kinds without a cache are read live.
    return cache.getByName(namespace, ref.name)?.metadata.uid === ref.uid ? 'present' : 'absent';
  };

  async #sync(qkey: string): Promise<void> {
    const colon = qkey.indexOf(':');
    const kind = qkey.slice(0, colon) as DependentKind;
    const key = qkey.slice(colon + 1);
    const obj = kind === 'Pod' ? this.#pods.get(key) : this.#replicaSets.get(key);
    if (obj === undefined) return;
    const missing = ownersToVerify(obj.metadata, this.#cachedLookup);
    if (missing === undefined) return;
    const ns = obj.metadata.namespace ?? '';
    for (const ref of missing) if (await this.#ownerPresent(ref, ns)) return;

    const client = this.#ctx.client;
    const name = obj.metadata.name ?? '';
    try {
      await client.delete({ kind, namespace: ns, name }, { expectedResourceVersion: obj.metadata.resourceVersion, signal: this.#ctx.signal });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const owners = ownerRefText(missing);
    this.#ctx.log.info({ dependent: `${kind} ${key}`, owners }, 'garbage collected');
    this.#ctx.events.record(obj, 'Normal', 'GarbageCollected', `Deleted: its owner ${owners} is gone`);
  }

  /** ownerPresent reads the owner live: there, with the same uid. */
  async #ownerPresent(ref: OwnerReference, namespace: string): Promise<boolean> {
    if (!isKind(ref.kind)) return true;
    const kind: Kind = ref.kind;
    try {
      const live = await this.#ctx.client.get({ kind, namespace: isNamespaced(kind) ? namespace : '', name: ref.name }, { signal: this.#ctx.signal });
      return live.metadata.uid === ref.uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
