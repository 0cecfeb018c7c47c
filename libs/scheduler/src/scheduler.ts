// scheduler.ts: the scheduler loop, a leader-only Controller.
//
// - Watch caches of Pods and Nodes feed a Snapshot: every Node, and every pod bound to one
//   (finished pods, phase Succeeded or Failed, are taken off). Pods this scheduler has bound but
//   not yet seen back through the watch stay in it as "assumed", so consecutive decisions see
//   each other.
// - Pending pods (no spec.nodeName, no deletionTimestamp) wait in a FIFO queue. The loop takes up
//   to `batchSize` of them at a time, decides each against the Snapshot at once (schedulePod)
//   and binds the batch as one transaction of compare-and-swap updates (spec.nodeName set at the
//   resourceVersion the decision saw): one Raft entry for the batch. Up to `batchesInFlight`
//   batches are in flight; a short batch goes out only while fewer than two are, so that under
//   load batches fill up. A batch that fails (one pod changed, or was deleted) is bound again
//   pod by pod; a pod whose bind fails is forgotten from the Snapshot and tried again after a
//   back-off (a deleted pod is dropped).
// - A pod that fits nowhere gets a status-only update (condition PodScheduled False, reason
//   Unschedulable, the message; only when that changes) and a Warning Event FailedScheduling.
//   It is tried again when a Node is added or changes in a way that matters to scheduling (not
//   a heartbeat), when a placed pod is deleted or finishes, and every `retryUnschedulableMs`.
// - Binding also sets the pod's PodScheduled condition True; after that the scheduler never
//   writes a bound pod's status: its node's agent reports it.
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { Node, Pod, PodCondition } from '@tugboat/api';
import { isConflict, isNotFound, isUnavailable } from '@tugboat/client';
import type { Informer, TxnOp } from '@tugboat/client';
import { retryDelay } from '@tugboat/controllers';
import type { Controller, ControllerContext } from '@tugboat/controllers';
import { schedulingFingerprint } from './node-info.ts';
import { schedulePod } from './schedule.ts';
import type { ScheduleOptions } from './schedule.ts';
import { Snapshot } from './snapshot.ts';

export interface SchedulerOptions {
  /** Most pods bound by one transaction. Default 128 (the most ops the store takes in one). */
  readonly batchSize?: number;
  /** Most bind transactions in flight at once. Default 8. */
  readonly batchesInFlight?: number;
  /** Period at which pods that fit nowhere are tried again, ms. Default 10,000. */
  readonly retryUnschedulableMs?: number;
  /** First back-off after a failed bind, ms (doubling per failure, at most 5,000). Default 50. */
  readonly bindRetryMs?: number;
  /** See ScheduleOptions. Default: adaptive. */
  readonly percentageOfNodesToScore?: number;
}

const BIND_RETRY_MAX_MS = 5_000;
/** Below this many batches in flight a batch goes out without waiting to fill. */
const EAGER_BATCHES = 2;

/** Scheduler places pending pods on nodes; see the module comment. */
export class Scheduler implements Controller {
  readonly name = 'scheduler';
  readonly #opts: SchedulerOptions;

  constructor(opts: SchedulerOptions = {}) {
    this.#opts = opts;
  }

  async run(ctx: ControllerContext): Promise<void> {
    await new SchedulerTerm(ctx, this.#opts).run();
  }
}

interface Binding {
  readonly pod: Pod;
  readonly key: string;
  readonly nodeName: string;
}

function isFinished(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function isPending(pod: Pod): boolean {
  return (pod.spec.nodeName ?? '') === '' && pod.metadata.deletionTimestamp === undefined && !isFinished(pod);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** SchedulerTerm is the scheduler during one leadership term: nothing carries over to the next. */
class SchedulerTerm {
  readonly #ctx: ControllerContext;
  readonly #batchSize: number;
  readonly #batchesInFlight: number;
  readonly #retryUnschedulableMs: number;
  readonly #bindRetryMs: number;
  readonly #scheduleOpts: ScheduleOptions;
  readonly #snapshot = new Snapshot();
  readonly #pods: Informer<Pod>;
  readonly #nodes: Informer<Node>;
  /** Pending pods to decide, in arrival order. */
  readonly #active = new Set<string>();
  /** Pods that fit nowhere at their last try. */
  readonly #unschedulable = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #fingerprints = new Map<string, string>();
  /** Unschedulable messages being written, by pod key. */
  readonly #statusWrites = new Map<string, string>();
  readonly #inflight = new Set<Promise<void>>();
  #wake: (() => void) | undefined;

  constructor(ctx: ControllerContext, opts: SchedulerOptions) {
    this.#ctx = ctx;
    this.#batchSize = Math.max(1, opts.batchSize ?? 128);
    this.#batchesInFlight = Math.max(1, opts.batchesInFlight ?? 8);
    this.#retryUnschedulableMs = opts.retryUnschedulableMs ?? 10_000;
    this.#bindRetryMs = opts.bindRetryMs ?? 50;
    this.#scheduleOpts = opts.percentageOfNodesToScore === undefined ? {} : { percentageOfNodesToScore: opts.percentageOfNodesToScore };
    this.#pods = ctx.informers.informer('Pod');
    this.#nodes = ctx.informers.informer('Node');
  }

  async run(): Promise<void> {
    const { signal } = this.#ctx;
    const onAbort = (): void => this.#wakeUp();
    signal.addEventListener('abort', onAbort);
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([this.#ctx.informers.waitForSync('Pod', 'Node'), aborted]);
    if (signal.aborted) return;
    // No await between adding the handlers and listing: no change can slip between them.
    const removeNodeHandler = this.#nodes.addHandler((key) => this.#onNode(key));
    const removePodHandler = this.#pods.addHandler((key) => this.#onPod(key));
    for (const key of this.#nodes.keys()) this.#onNode(key);
    for (const key of this.#pods.keys()) this.#onPod(key);
    const retryTimer = setInterval(() => this.#retryUnschedulable(), this.#retryUnschedulableMs);
    retryTimer.unref();
    this.#ctx.log.info({ nodes: this.#snapshot.nodes().length, placed: this.#snapshot.podCount, pending: this.#active.size }, 'scheduler started');
    try {
      await this.#loop();
    } finally {
      clearInterval(retryTimer);
      removeNodeHandler();
      removePodHandler();
      for (const t of this.#retryTimers.values()) clearTimeout(t);
      this.#retryTimers.clear();
      signal.removeEventListener('abort', onAbort);
      await Promise.all(this.#inflight);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Watch handlers: keep the Snapshot current and the queue of pending pods.

  #onNode(key: string): void {
    const node = this.#nodes.get(key);
    if (node === undefined) {
      this.#snapshot.removeNode(key);
      this.#fingerprints.delete(key);
      return;
    }
    this.#snapshot.setNode(node);
    const fp = schedulingFingerprint(node);
    if (this.#fingerprints.get(key) !== fp) {
      this.#fingerprints.set(key, fp);
      this.#retryUnschedulable();
    }
  }

  #onPod(key: string): void {
    const pod = this.#pods.get(key);
    const placed = this.#snapshot.pod(key);
    if (pod === undefined) {
      this.#forget(key);
      if (placed !== undefined) {
        this.#snapshot.removePod(key);
        this.#retryUnschedulable();
      }
      return;
    }
    if ((pod.spec.nodeName ?? '') !== '') {
      this.#forget(key);
      if (isFinished(pod)) {
        if (placed !== undefined) {
          this.#snapshot.removePod(key);
          this.#retryUnschedulable();
        }
        return;
      }
      try {
        this.#snapshot.addPod(pod);
      } catch (err) {
        this.#ctx.log.warn({ pod: key, node: pod.spec.nodeName, err: message(err) }, 'bound pod not counted');
      }
      return;
    }
    if (placed !== undefined) {
      // Our bind of this very pod is in flight: its outcome decides.
      if (placed.assumed && placed.uid === (pod.metadata.uid ?? '')) return;
      this.#snapshot.removePod(key);
    }
    if (!isPending(pod)) {
      this.#forget(key);
      return;
    }
    this.#unschedulable.delete(key);
    this.#enqueue(key);
  }

  /** forget drops every trace of a pod that is no longer pending. */
  #forget(key: string): void {
    this.#active.delete(key);
    this.#unschedulable.delete(key);
    this.#failures.delete(key);
    const t = this.#retryTimers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      this.#retryTimers.delete(key);
    }
  }

  #enqueue(key: string): void {
    this.#active.add(key);
    this.#wakeUp();
  }

  #retryUnschedulable(): void {
    if (this.#unschedulable.size === 0) return;
    for (const key of this.#unschedulable) this.#active.add(key);
    this.#unschedulable.clear();
    this.#wakeUp();
  }

  /** retryLater queues a pod again after its back-off. */
  #retryLater(key: string): void {
    if (this.#ctx.signal.aborted || this.#retryTimers.has(key)) return;
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    const t = setTimeout(() => {
      this.#retryTimers.delete(key);
      const pod = this.#pods.get(key);
      if (pod !== undefined && isPending(pod)) this.#enqueue(key);
    }, retryDelay(n, this.#bindRetryMs, BIND_RETRY_MAX_MS));
    t.unref();
    this.#retryTimers.set(key, t);
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  // ---------------------------------------------------------------------------------------------
  // The loop: decide a batch, bind it, repeat.

  async #loop(): Promise<void> {
    const { signal } = this.#ctx;
    while (!signal.aborted) {
      const inflight = this.#inflight.size;
      const ready = this.#active.size > 0 && inflight < this.#batchesInFlight && (inflight < EAGER_BATCHES || this.#active.size >= this.#batchSize);
      if (!ready) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const batch = this.#decideBatch();
      if (batch.length > 0) {
        const p = this.#bind(batch).finally(() => {
          this.#inflight.delete(p);
          this.#wakeUp();
        });
        this.#inflight.add(p);
      }
      // Let the watches and the API breathe between batches.
      await yieldToIo();
    }
  }

  /** decideBatch takes up to batchSize pending pods off the queue and decides each; returns the bindings. */
  #decideBatch(): Binding[] {
    const batch: Binding[] = [];
    let examined = 0;
    for (const key of this.#active) {
      if (examined >= this.#batchSize) break;
      examined++;
      this.#active.delete(key);
      const pod = this.#pods.get(key);
      if (pod === undefined || !isPending(pod) || this.#snapshot.pod(key)?.assumed === true) continue;
      let result;
      try {
        result = schedulePod(pod, this.#snapshot, this.#scheduleOpts);
      } catch (err) {
        this.#ctx.log.error({ pod: key, err: message(err) }, 'cannot decide where the pod goes');
        this.#retryLater(key);
        continue;
      }
      if ('nodeName' in result) {
        this.#snapshot.assumePod(pod, result.nodeName);
        batch.push({ pod, key, nodeName: result.nodeName });
      } else {
        this.#markUnschedulable(pod, key, result.unschedulable);
      }
    }
    return batch;
  }

  async #bind(batch: readonly Binding[]): Promise<void> {
    const { client, signal, log } = this.#ctx;
    const started = performance.now();
    if (batch.length === 1) return this.#bindOne(batch[0] as Binding);
    const ops: TxnOp[] = batch.map((b) => ({ op: 'update', object: bound(b), expectedResourceVersion: b.pod.metadata.resourceVersion }));
    try {
      await client.txn(ops, { signal });
    } catch (err) {
      if (signal.aborted) return;
      if (isUnavailable(err)) {
        log.warn({ pods: batch.length, err: message(err) }, 'bind batch failed; trying its pods again later');
        for (const b of batch) this.#bindFailed(b, err);
        return;
      }
      log.debug({ pods: batch.length, err: message(err) }, 'bind batch refused; binding its pods one by one');
      await Promise.all(batch.map((b) => this.#bindOne(b)));
      return;
    }
    for (const b of batch) this.#failures.delete(b.key);
    log.debug({ pods: batch.length, ms: Math.round(performance.now() - started) }, 'bound a batch of pods');
  }

  async #bindOne(b: Binding): Promise<void> {
    const { client, signal } = this.#ctx;
    try {
      await client.pods.update(bound(b), { signal });
      this.#failures.delete(b.key);
    } catch (err) {
      if (!signal.aborted) this.#bindFailed(b, err);
    }
  }

  /** bindFailed forgets the assumption and tries the pod again later (unless it is gone). */
  #bindFailed(b: Binding, err: unknown): void {
    const placed = this.#snapshot.pod(b.key);
    if (placed !== undefined && placed.assumed && placed.uid === (b.pod.metadata.uid ?? '')) {
      this.#snapshot.removePod(b.key);
      this.#retryUnschedulable();
    }
    if (isNotFound(err)) return;
    const level = isConflict(err) ? 'debug' : 'warn';
    this.#ctx.log[level]({ pod: b.key, node: b.nodeName, err: message(err) }, 'bind failed; trying the pod again later');
    this.#retryLater(b.key);
  }

  // ---------------------------------------------------------------------------------------------
  // Pods that fit nowhere.

  #markUnschedulable(pod: Pod, key: string, why: string): void {
    const { client, signal, log, events } = this.#ctx;
    this.#unschedulable.add(key);
    log.info({ pod: key, reason: why }, 'pod fits no node');
    const cond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cond !== undefined && cond.status === 'False' && cond.reason === 'Unschedulable' && cond.message === why) return;
    if (this.#statusWrites.get(key) === why) return;
    events.record(pod, 'Warning', 'FailedScheduling', why);
    const now = new Date(this.#ctx.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const scheduled: PodCondition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: why,
      lastTransitionTime: cond?.status === 'False' && cond.lastTransitionTime !== undefined ? cond.lastTransitionTime : now,
    };
    const status = pod.status ?? {};
    const conditions = [...(status.conditions ?? []).filter((c) => c.type !== 'PodScheduled'), scheduled];
    this.#statusWrites.set(key, why);
    client.pods
      .updateStatus({ ...pod, status: { ...status, phase: status.phase ?? 'Pending', conditions } }, { signal })
      .catch((err: unknown) => {
        if (signal.aborted || isConflict(err) || isNotFound(err)) return;
        log.warn({ pod: key, err: message(err) }, 'cannot write why the pod is unschedulable');
      })
      .finally(() => {
        if (this.#statusWrites.get(key) === why) this.#statusWrites.delete(key);
      });
  }
}

/** bound is the pod of a binding with spec.nodeName set and its PodScheduled condition True
 *  (the rest as the decision saw it): a pod once unschedulable says so no longer. */
function bound(b: Binding): Pod {
  const conditions = (b.pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  conditions.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
  return { ...b.pod, spec: { ...b.pod.spec, nodeName: b.nodeName }, status: { ...b.pod.status, phase: b.pod.status?.phase ?? 'Pending', conditions } };
}

