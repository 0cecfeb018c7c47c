// node-lifecycle.ts: the node lifecycle controller. It watches Nodes, their Leases (in
// tug-node-lease, named after the Node) and the pods bound to them and, per Node (the decisions
// are node-health.ts's):
// - a Node whose heartbeat (the later of its Lease's renewTime and Ready's lastHeartbeatTime; a
//   Node without a Lease has only the latter) is older than nodeMonitorGraceSeconds gets
//   Ready=Unknown (a status-only compare-and-swap update that keeps lastHeartbeatTime: the
//   agent's next beat finds Ready other than it reports and writes its status, True again) and
//   the node.kubernetes.io/unreachable taints; a Node its agent reports Ready=False gets the
//   node.kubernetes.io/not-ready taints (NoSchedule and NoExecute, with timeAdded, by a
//   compare-and-swap update of spec.taints); both go once it is Ready again;
// - the Ready pods of a NotReady Node get Ready=False (reason NodeNotReady), so that services
//   stop sending them traffic at once rather than when they are evicted (a Node this leader
//   found unreachable already: once it has watched a grace period of silence itself);
// - the pods on a Node with NoExecute taints they do not tolerate are deleted once their
//   tolerationSeconds (defaultEvictionSeconds for the two taints above when the pod has no
//   toleration for them) have passed since the taint's timeAdded (on an unreachable Node, since
//   a grace period after this leader began watching at the earliest: its predecessor may have
//   judged it while no heartbeat could be stored): with grace 0 on an unreachable Node (nobody is
//   there to stop them), gracefully on any other.
// Every sync schedules the next one for the moment the clock alone changes something (the
// heartbeat ages past the grace period, a pod's eviction falls due), so nothing waits for a
// watch event. Events: NodeNotReady / NodeReady on the Node, TaintManagerEviction on each pod.
import { NODE_LEASE_NAMESPACE } from '@tugboat/api';
import type { Lease, Node, Pod } from '@tugboat/api';
import { isConflict, isNotFound } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import { assessNode, actsFromMs, healthTaints, planEvictions, readyCondition, UNKNOWN_MESSAGE, withPodNotReady, withReadyUnknown } from './node-health.ts';
import type { NodeHealth } from './node-health.ts';
import type { Controller, ControllerContext } from './runtime/controller.ts';
import { WorkQueue } from './runtime/workqueue.ts';

/** Nodes synced at once. */
const WORKERS = 4;

/** untilAborted resolves with p, or with undefined once signal aborts (whichever is first). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function hasNoExecute(node: Node): boolean {
  return (node.spec?.taints ?? []).some((t) => t.effect === 'NoExecute');
}

function healthText(health: NodeHealth, node: Node): string {
  if (health === 'unreachable') return UNKNOWN_MESSAGE;
  const ready = readyCondition(node);
  return `tug-agent reports Ready=${ready?.status ?? 'none'}${ready?.reason === undefined ? '' : ` (${ready.reason}${ready.message === undefined ? '' : `: ${ready.message}`})`}`;
}

/** NodeLifecycleController marks silent Nodes, taints unhealthy ones and evicts their pods. */
export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle';
  /** waiting: evictions are held because no Node is Ready (logged once). */
  private waiting = false;

  /** Names of Nodes that pods are bound to but that do not exist, and since when (this term). */
  private readonly missingSince = new Map<string, number>();

  async run(ctx: ControllerContext): Promise<void> {
    this.waiting = false;
    this.missingSince.clear();
    const nodes = ctx.informers.informer('Node');
    const pods = ctx.informers.informer('Pod');
    const leases = ctx.informers.informer('Lease');
    const queue = new WorkQueue();
    const removeNodeHandler = nodes.addHandler((key) => queue.add(key));
    // A Lease renewal needs no sync of its own (hundreds a second in a large cluster): every sync
    // reads the Node's Lease, and schedules the next for when that heartbeat would age out.
    const leaseOf = (name: string): Lease | undefined => leases.getByName(NODE_LEASE_NAMESPACE, name);
    // A pod matters only on a Node with NoExecute taints: a new one there may be due already.
    const onPod = (key: string): void => {
      const nodeName = pods.get(key)?.spec.nodeName;
      if (nodeName === undefined || nodeName === '') return;
      const node = nodes.get(nodeName);
      if (node === undefined || hasNoExecute(node)) queue.add(nodeName);
    };
    const removePodHandler = pods.addHandler({ onAdd: onPod, onUpdate: onPod });
    try {
      const synced = await untilAborted(ctx.informers.waitForSync('Node', 'Pod', 'Lease').then(() => true), ctx.signal);
      if (synced !== true) return;
      for (const key of nodes.keys()) queue.add(key);
      const sinceMs = ctx.now();
      await queue.run(
        ctx.signal,
        WORKERS,
        (key) => this.sync(ctx, nodes, leaseOf, pods, queue, key, sinceMs),
        (key, err, retryInMs) => {
          const fields = { node: key, retryInMs, err: (err as Error).message };
          if (isConflict(err)) ctx.log.debug(fields, 'node changed meanwhile; syncing it again');
          else ctx.log.warn(fields, 'node sync failed; retrying');
        },
      );
    } finally {
      removeNodeHandler();
      removePodHandler();
    }
  }

  /** sync brings one Node's condition, taints and pods in line with its health (see the module comment). */
  private async sync(
    ctx: ControllerContext,
    nodes: Informer<Node>,
    leaseOf: (name: string) => Lease | undefined,
    pods: Informer<Pod>,
    queue: WorkQueue,
    name: string,
    sinceMs: number,
  ): Promise<void> {
    const cached = nodes.get(name);
    if (cached === undefined) return this.collectOrphans(ctx, pods, queue, name);
    this.missingSince.delete(name);
    const { signal, settings } = ctx;
    const now = ctx.now();
    const nowIso = new Date(now).toISOString();
    const graceMs = settings.nodeMonitorGraceSeconds * 1_000;
    const lease = leaseOf(name);
    const verdict = assessNode(cached, lease, now, graceMs, sinceMs);
    let node = cached;
    if (verdict.markUnknown) {
      node = await ctx.client.nodes.updateStatus(withReadyUnknown(cached, nowIso), { signal });
      ctx.log.info({ node: name, lastHeartbeatTime: readyCondition(cached)?.lastHeartbeatTime, leaseRenewTime: lease?.spec?.renewTime }, 'node heartbeat too old: Ready=Unknown');
      ctx.events.record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady (${UNKNOWN_MESSAGE})`);
    }

    const taints = healthTaints(verdict.health, node.spec?.taints, nowIso);
    if (taints !== undefined) {
      const wasTainted = hasNoExecute(node);
      const copy = structuredClone(node);
      copy.spec = { ...copy.spec, taints };
      if (taints.length === 0) delete copy.spec.taints;
      node = await ctx.client.nodes.update(copy, { signal });
      ctx.log.info({ node: name, health: verdict.health, taints: taints.map((t) => `${t.key}:${t.effect}`) }, 'node taints changed');
      if (verdict.health === 'not-ready') {
        ctx.events.record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady (${healthText(verdict.health, node)})`);
      } else if (verdict.health === 'ready' && wasTainted) {
        ctx.events.record(node, 'Normal', 'NodeReady', `Node ${name} status is now: NodeReady`);
      }
    }

    let nextAtMs = verdict.staleAtMs;
    const actsFrom = actsFromMs(verdict.health, sinceMs, graceMs);
    if (verdict.health === 'unreachable' || verdict.health === 'not-ready') {
      if (now >= actsFrom) await this.markPodsNotReady(ctx, pods, name, nowIso);
      else nextAtMs = Math.min(nextAtMs ?? Infinity, actsFrom);
    }
    // When no Node is Ready (the control plane is cut off from all of them, or they all died),
    // evicting would only empty the cluster: wait, as Kubernetes does in a full disruption.
    const anyReady = (): boolean => nodes.list().some((n) => assessNode(n, leaseOf(n.metadata.name ?? ''), now, graceMs, sinceMs).health === 'ready');
    if (hasNoExecute(node) && !anyReady()) {
      if (!this.waiting) ctx.log.warn({ node: name }, 'no Node is Ready: evictions wait until one is');
      this.waiting = true;
      nextAtMs = Math.min(nextAtMs ?? Infinity, now + 1_000);
    } else if (hasNoExecute(node)) {
      this.waiting = false;
      const onNode = pods.list((p) => p.spec.nodeName === name);
      const plan = planEvictions(onNode, node.spec?.taints ?? [], verdict.health, now, settings.defaultEvictionSeconds, actsFrom);
      for (const pod of plan.due) await this.evict(ctx, pod, name, verdict.health, plan.force);
      if (plan.nextAtMs !== undefined && (nextAtMs === undefined || plan.nextAtMs < nextAtMs)) nextAtMs = plan.nextAtMs;
    }
    if (nextAtMs !== undefined) queue.addAfter(name, Math.max(1, nextAtMs - ctx.now()));
  }

  /**
   * collectOrphans deletes (grace 0) the pods bound to a Node that does not exist, once it has
   * been missing for the grace period (a Node deleted for good, or a pod bound to a name that
   * never registered): no agent will ever run or finish them, and their ReplicaSets replace
   * them only once they are gone.
   */
  private async collectOrphans(ctx: ControllerContext, pods: Informer<Pod>, queue: WorkQueue, nodeName: string): Promise<void> {
    const orphans = pods.list((p) => p.spec.nodeName === nodeName);
    if (orphans.length === 0) {
      this.missingSince.delete(nodeName);
      return;
    }
    const graceMs = ctx.settings.nodeMonitorGraceSeconds * 1_000;
    const since = this.missingSince.get(nodeName) ?? ctx.now();
    this.missingSince.set(nodeName, since);
    const dueAt = since + graceMs;
    if (ctx.now() < dueAt) {
      queue.addAfter(nodeName, dueAt - ctx.now());
      return;
    }
    for (const pod of orphans) {
      const namespace = pod.metadata.namespace ?? 'default';
      const name = pod.metadata.name ?? '';
      try {
        await ctx.client.pods.delete(namespace, name, { signal: ctx.signal, gracePeriodSeconds: 0, expectedUid: pod.metadata.uid });
      } catch (err) {
        if (isNotFound(err) || isConflict(err)) continue;
        throw err;
      }
      ctx.log.info({ pod: `${namespace}/${name}`, node: nodeName }, 'pod of a Node that does not exist deleted');
      ctx.events.record(pod, 'Normal', 'PodGarbageCollected', `Deleted pod ${namespace}/${name}: its node ${nodeName} does not exist`);
    }
    this.missingSince.delete(nodeName);
  }

  /** markPodsNotReady sets Ready=False on the Ready pods of a NotReady Node (status-only, compare-and-swap). */
  private async markPodsNotReady(ctx: ControllerContext, pods: Informer<Pod>, nodeName: string, nowIso: string): Promise<void> {
    for (const pod of pods.list((p) => p.spec.nodeName === nodeName && p.metadata.deletionTimestamp === undefined)) {
      const marked = withPodNotReady(pod, nowIso);
      if (marked === undefined) continue;
      try {
        await ctx.client.pods.updateStatus(marked, { signal: ctx.signal });
      } catch (err) {
        // Gone, or changed meanwhile: its update event syncs the Node again.
        if (isNotFound(err) || isConflict(err)) continue;
        throw err;
      }
      ctx.log.info({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, node: nodeName }, 'pod marked not ready: its node is not ready');
    }
  }

  /** evict deletes one pod of a tainted Node: with grace 0 when force, else gracefully. */
  private async evict(ctx: ControllerContext, pod: Pod, nodeName: string, health: NodeHealth, force: boolean): Promise<void> {
    const namespace = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    try {
      await ctx.client.pods.delete(namespace, name, { signal: ctx.signal, gracePeriodSeconds: force ? 0 : undefined, expectedUid: pod.metadata.uid });
    } catch (err) {
      // Gone already, or another pod of that name since: nothing of this one is left to evict.
      if (isNotFound(err) || isConflict(err)) return;
      throw err;
    }
    const why = health === 'unreachable' ? 'is unreachable' : health === 'not-ready' ? 'is not ready' : 'has a NoExecute taint the pod does not tolerate';
    ctx.log.info({ pod: `${namespace}/${name}`, node: nodeName, force }, 'pod evicted from a tainted node');
    ctx.events.record(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${namespace}/${name}: node ${nodeName} ${why}${force ? ' (deleted at once)' : ''}`);
  }
}
