// schedule.ts: one placement decision over a Snapshot: filter nodes, score the feasible ones,
// take the best.
//
// Filtering starts at a node chosen by the pod's uid and goes round the node list. With many
// nodes it stops once it has found feasibleNodesToFind() feasible ones (as Kubernetes'
// percentageOfNodesToScore does); only when it finds none has it looked at every node, so
// "unschedulable" always means no node fits. Ties between best scores go to the node with the
// lowest hash of (pod uid, node name): deterministic, but not the same node for every pod.
import type { Pod } from '@tugboat/api';
import { podContext } from './framework.ts';
import type { Filter, FilterCheck, Score } from './framework.ts';
import { fnv1a, mix32 } from './hash.ts';
import { unschedulableMessage } from './message.ts';
import type { NodeInfo } from './node-info.ts';
import type { Snapshot } from './snapshot.ts';
import { nodeAffinity } from './filters/node-affinity.ts';
import { nodeReady } from './filters/node-ready.ts';
import { nodeUnschedulable } from './filters/node-unschedulable.ts';
import { podAntiAffinity } from './filters/pod-anti-affinity.ts';
import { resourcesFit } from './filters/resources-fit.ts';
import { taintToleration } from './filters/taints.ts';
import { topologySpread } from './filters/topology-spread.ts';
import { preferredNodeAffinity } from './scores/node-affinity.ts';
import { ownerSpread } from './scores/owner-spread.ts';
import { preferredPodAntiAffinity } from './scores/pod-anti-affinity.ts';
import { balancedAllocation, leastAllocated } from './scores/resources.ts';
import { preferNoScheduleTaints } from './scores/taints.ts';
import { softTopologySpread } from './scores/topology-spread.ts';

/** FILTERS in the order they run on a node; the first that fails gives the node's reasons. */
export const FILTERS: readonly Filter[] = [nodeReady, nodeUnschedulable, taintToleration, nodeAffinity, resourcesFit, topologySpread, podAntiAffinity];

/** SCORES whose weighted sum ranks the feasible nodes. */
export const SCORES: readonly Score[] = [
  leastAllocated,
  balancedAllocation,
  preferredNodeAffinity,
  preferNoScheduleTaints,
  ownerSpread,
  preferredPodAntiAffinity,
  softTopologySpread,
];

/** ScheduleResult: the node chosen, or why none fits. */
export type ScheduleResult = { readonly nodeName: string } | { readonly unschedulable: string };

export interface ScheduleOptions {
  /**
   * percentageOfNodesToScore: with more than MIN_FEASIBLE_NODES nodes, stop filtering once this
   * share of them (at least MIN_FEASIBLE_NODES) is known feasible. Default: adaptive, 50% less
   * 1% per 125 nodes, at least 5% (Kubernetes' rule). 100 examines every node.
   */
  readonly percentageOfNodesToScore?: number;
}

/** Below this many nodes every node is examined. */
export const MIN_FEASIBLE_NODES = 100;

/** feasibleNodesToFind is how many feasible nodes a decision looks for among nodeCount nodes. */
export function feasibleNodesToFind(nodeCount: number, percentageOfNodesToScore?: number): number {
  if (nodeCount <= MIN_FEASIBLE_NODES) return nodeCount;
  const pct = percentageOfNodesToScore ?? Math.max(5, 50 - nodeCount / 125);
  if (pct >= 100) return nodeCount;
  return Math.min(nodeCount, Math.max(MIN_FEASIBLE_NODES, Math.floor((nodeCount * pct) / 100)));
}

/** schedulePod chooses a node for pod among the Snapshot's nodes; the Snapshot is not changed. */
export function schedulePod(pod: Pod, snapshot: Snapshot, opts: ScheduleOptions = {}): ScheduleResult {
  const ctx = podContext(pod);
  const nodes = snapshot.nodes();
  const n = nodes.length;
  if (n === 0) return { unschedulable: unschedulableMessage(0, new Map()) };
  const checks: FilterCheck[] = [];
  for (const f of FILTERS) {
    const check = f.prepare(ctx, snapshot);
    if (check !== undefined) checks.push(check);
  }
  const seed = fnv1a(ctx.uid);
  const start = seed % n;
  const want = feasibleNodesToFind(n, opts.percentageOfNodesToScore);
  const feasible: NodeInfo[] = [];
  let reasons: Map<string, number> | undefined;
  for (let i = 0; i < n && feasible.length < want; i++) {
    const node = nodes[(start + i) % n] as NodeInfo;
    let failed: string | readonly string[] | undefined;
    for (const check of checks) {
      failed = check(node);
      if (failed !== undefined) break;
    }
    if (failed === undefined) {
      feasible.push(node);
      continue;
    }
    reasons ??= new Map();
    if (typeof failed === 'string') reasons.set(failed, (reasons.get(failed) ?? 0) + 1);
    else for (const r of failed) reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  if (feasible.length === 0) return { unschedulable: unschedulableMessage(n, reasons ?? new Map()) };
  if (feasible.length === 1) return { nodeName: (feasible[0] as NodeInfo).name };
  const total = new Float64Array(feasible.length);
  for (const s of SCORES) {
    const scores = s.score(ctx, feasible, snapshot);
    if (scores === undefined) continue;
    for (let i = 0; i < total.length; i++) total[i] = (total[i] as number) + s.weight * (scores[i] as number);
  }
  return { nodeName: best(feasible, total, seed) };
}

/** Scores closer than this are a tie (sums of floating-point shares). */
const TIE_EPSILON = 1e-9;

function best(nodes: readonly NodeInfo[], total: Float64Array, seed: number): string {
  let top = -Infinity;
  for (const t of total) if (t > top) top = t;
  let chosen = '';
  let chosenHash = Infinity;
  for (let i = 0; i < nodes.length; i++) {
    if ((total[i] as number) < top - TIE_EPSILON) continue;
    const node = nodes[i] as NodeInfo;
    const h = mix32(node.nameHash ^ seed);
    if (h < chosenHash || (h === chosenHash && node.name < chosen)) {
      chosen = node.name;
      chosenHash = h;
    }
  }
  return chosen;
}
