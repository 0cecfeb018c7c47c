// topology-spread.ts: filter PodTopologySpread (whenUnsatisfiable DoNotSchedule). For each such
// constraint, the pods its selector matches (in the pod's namespace) are counted per domain: the
// values of topologyKey among the nodes that carry it and pass the pod's nodeSelector and
// required node affinity. A node is out when it lacks the key, or when placing the pod there
// would make its domain exceed the least populated domain by more than maxSkew. With fewer
// domains than minDomains, the least populated count is taken as 0.
import { matches } from '@tugboat/api';
import type { TopologySpreadConstraint } from '@tugboat/api';
import type { Filter, PodContext } from '../framework.ts';
import type { Snapshot } from '../snapshot.ts';
import { requiredNodeMatcher } from './node-affinity.ts';

export const TOPOLOGY_SPREAD_MISMATCH = "node(s) didn't match pod topology spread constraints";

/** DomainCounts: matching pods per domain of one constraint, and the count of the emptiest domain. */
export interface DomainCounts {
  readonly topologyKey: string;
  readonly byDomain: ReadonlyMap<string, number>;
  readonly min: number;
  /** selfMatch: 1 when the constraint's selector matches the incoming pod itself. */
  readonly selfMatch: number;
}

/** domainCounts counts the pods constraint c selects per domain over the nodes the pod may use. */
export function domainCounts(c: TopologySpreadConstraint, pod: PodContext, snapshot: Snapshot): DomainCounts {
  const byNode = c.labelSelector === undefined ? new Map<string, number>() : snapshot.matchingPodsByNode([pod.namespace], c.labelSelector);
  const eligible = requiredNodeMatcher(pod.pod);
  const byDomain = new Map<string, number>();
  for (const node of snapshot.nodes()) {
    const v = node.labels[c.topologyKey];
    if (v === undefined || (eligible !== undefined && !eligible(node))) continue;
    byDomain.set(v, (byDomain.get(v) ?? 0) + (byNode.get(node.name) ?? 0));
  }
  let min = byDomain.size < (c.minDomains ?? 1) ? 0 : Infinity;
  for (const n of byDomain.values()) if (n < min) min = n;
  return {
    topologyKey: c.topologyKey,
    byDomain,
    min: min === Infinity ? 0 : min,
    selfMatch: c.labelSelector !== undefined && matches(c.labelSelector, pod.labels) ? 1 : 0,
  };
}

export const topologySpread: Filter = {
  name: 'PodTopologySpread',
  prepare(pod, snapshot) {
    const hard = (pod.pod.spec.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === 'DoNotSchedule');
    if (hard.length === 0) return undefined;
    const rules = hard.map((c) => ({ maxSkew: c.maxSkew, counts: domainCounts(c, pod, snapshot) }));
    return (node) => {
      for (const { maxSkew, counts } of rules) {
        const v = node.labels[counts.topologyKey];
        if (v === undefined) return TOPOLOGY_SPREAD_MISMATCH;
        if ((counts.byDomain.get(v) ?? 0) + counts.selfMatch - counts.min > maxSkew) return TOPOLOGY_SPREAD_MISMATCH;
      }
      return undefined;
    };
  },
};
