// endpoints-controller.ts: the Endpoints controller, the I/O around endpoints-plan.ts. Each
// Service key is synced from the watch caches: the Endpoints it should have are computed from
// the pods of its namespace and written (create, or compare-and-swap update) only when they
// differ from the stored ones. A pod event wakes every Service that selects the pod now or
// counted it before, so a pod that turns Ready, stops being Ready, is marked for deletion or
// changes its labels is reflected within one sync. A Service deleted during this term has its
// Endpoints deleted; hand-made Endpoints of Services without a selector are left alone.
import type { Endpoints, Pod, Service } from '@tugboat/api';
import { isAlreadyExists, isNotFound, objectKey, splitKey } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import type { Controller, ControllerContext } from './runtime/index.ts';
import { WorkQueue } from './runtime/index.ts';
import { desiredEndpoints, isManagedService, sameEndpoints, selects } from './endpoints-plan.ts';
import { reportSyncError, waitForSyncOrAbort } from './loop.ts';

export interface EndpointsControllerOptions {
  /** Services synced at once. Default 4. */
  readonly workers?: number;
}

/** EndpointsController keeps the Endpoints of every Service with a selector. */
export class EndpointsController implements Controller {
  readonly name = 'endpoints';
  readonly #opts: EndpointsControllerOptions;

  constructor(opts: EndpointsControllerOptions = {}) {
    this.#opts = opts;
  }

  async run(ctx: ControllerContext): Promise<void> {
    await new EndpointsTerm(ctx, this.#opts.workers ?? 4).run();
  }
}

/** EndpointsTerm is the controller's state for one leadership term. */
class EndpointsTerm {
  readonly #ctx: ControllerContext;
  readonly #workers: number;
  readonly #queue = new WorkQueue();
  readonly #services: Informer<Service>;
  readonly #pods: Informer<Pod>;
  readonly #endpoints: Informer<Endpoints>;
  /** namespace -> keys of its pods (the pods a sync looks at). */
  readonly #podsByNamespace = new Map<string, Set<string>>();
  /** pod key -> keys of the Services that selected it when last seen. */
  readonly #podServices = new Map<string, Set<string>>();
  /** Services seen in this term: their Endpoints go when they do. */
  readonly #seen = new Set<string>();

  constructor(ctx: ControllerContext, workers: number) {
    this.#ctx = ctx;
    this.#workers = workers;
    this.#services = ctx.informers.informer('Service');
    this.#pods = ctx.informers.informer('Pod');
    this.#endpoints = ctx.informers.informer('Endpoints');
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    const removers = [
      this.#services.addHandler((key) => this.#queue.add(key)),
      // Endpoints changed by someone else are put back (for managed Services).
      this.#endpoints.addHandler((key) => this.#queue.add(key)),
      this.#pods.addHandler((key) => this.#podChanged(key)),
    ];
    try {
      if (!(await waitForSyncOrAbort(ctx, 'Service', 'Pod', 'Endpoints'))) return;
      for (const key of this.#pods.keys()) this.#podChanged(key);
      for (const key of this.#services.keys()) this.#queue.add(key);
      await this.#queue.run(ctx.signal, this.#workers, (key) => this.#sync(key), (key, err, retryInMs) => reportSyncError(ctx, key, err, retryInMs));
    } finally {
      for (const remove of removers) remove();
    }
  }

  #podChanged(podKey: string): void {
    const { namespace } = splitKey(podKey);
    const pod = this.#pods.get(podKey);
    let inNamespace = this.#podsByNamespace.get(namespace);
    if (pod === undefined) {
      inNamespace?.delete(podKey);
      if (inNamespace?.size === 0) this.#podsByNamespace.delete(namespace);
    } else {
      if (inNamespace === undefined) this.#podsByNamespace.set(namespace, (inNamespace = new Set()));
      inNamespace.add(podKey);
    }
    const wake = new Set(this.#podServices.get(podKey));
    const now = new Set<string>();
    if (pod !== undefined) {
      for (const svc of this.#services.list((s) => s.metadata.namespace === namespace && selects(s, pod))) now.add(objectKey(svc));
    }
    if (now.size === 0) this.#podServices.delete(podKey);
    else this.#podServices.set(podKey, now);
    for (const key of now) wake.add(key);
    for (const key of wake) this.#queue.add(key);
  }

  async #sync(key: string): Promise<void> {
    const client = this.#ctx.client;
    const { namespace, name } = splitKey(key);
    const svc = this.#services.get(key);
    const stored = this.#endpoints.get(key);
    if (svc === undefined) {
      if (stored !== undefined && this.#seen.delete(key)) {
        try {
          await client.endpoints.delete(namespace, name, stored.metadata.uid === undefined ? {} : { expectedUid: stored.metadata.uid });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return;
    }
    this.#seen.add(key);
    if (!isManagedService(svc)) return;
    const pods: Pod[] = [];
    for (const podKey of this.#podsByNamespace.get(namespace) ?? []) {
      const pod = this.#pods.get(podKey);
      if (pod !== undefined) pods.push(pod);
    }
    const desired = desiredEndpoints(svc, pods);
    if (stored !== undefined && sameEndpoints(stored, desired)) return;
    if (stored === undefined) {
      try {
        await client.endpoints.create(desired);
      } catch (err) {
        // Created meanwhile (the cache is behind): the event it sends syncs this key again.
        if (!isAlreadyExists(err)) throw err;
      }
      return;
    }
    await client.endpoints.update({ ...desired, metadata: { ...desired.metadata, resourceVersion: stored.metadata.resourceVersion ?? '' } });
  }
}
