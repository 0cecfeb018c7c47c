// pod-anti-affinity.ts: filter InterPodAntiAffinity (required terms). A node is out when its
// topology domain (its value of the term's topologyKey) already holds a pod that
// - the incoming pod's required anti-affinity terms select, or
// - refuses the incoming pod: a placed pod whose own required anti-affinity term selects it.
// A node without the topologyKey label is in no domain and conflicts with nothing.
import { matches } from '@tugboat/api';
import type { Filter } from '../framework.ts';
import { termNamespaces } from '../snapshot.ts';
import type { Snapshot } from '../snapshot.ts';

export const ANTI_AFFINITY_MISMATCH = "node(s) didn't match pod anti-affinity rules";

/** Blocked: the domains of one topology key where the pod may not go. */
interface Blocked {
  readonly topologyKey: string;
  readonly domains: Set<string>;
}

/** domainsOf collects the topologyKey values of the nodes named in byNode. */
function domainsOf(snapshot: Snapshot, byNode: ReadonlyMap<string, number>, topologyKey: string, into: Set<string>): void {
  for (const name of byNode.keys()) {
    const v = snapshot.nodeInfo(name)?.labels[topologyKey];
    if (v !== undefined) into.add(v);
  }
}

export const podAntiAffinity: Filter = {
  name: 'InterPodAntiAffinity',
  prepare(pod, snapshot) {
    const blocked = new Map<string, Blocked>();
    const domains = (topologyKey: string): Set<string> => {
      let b = blocked.get(topologyKey);
      if (b === undefined) {
        b = { topologyKey, domains: new Set() };
        blocked.set(topologyKey, b);
      }
      return b.domains;
    };
    for (const term of pod.pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      if (term.labelSelector === undefined) continue;
      const byNode = snapshot.matchingPodsByNode(termNamespaces(term, pod.namespace), term.labelSelector);
      if (byNode.size > 0) domainsOf(snapshot, byNode, term.topologyKey, domains(term.topologyKey));
    }
    for (const g of snapshot.antiAffinityGroups()) {
      if (g.namespaces.includes(pod.namespace) && matches(g.selector, pod.labels)) domainsOf(snapshot, g.byNode, g.topologyKey, domains(g.topologyKey));
    }
    const rules = [...blocked.values()].filter((b) => b.domains.size > 0);
    if (rules.length === 0) return undefined;
    return (node) => {
      for (const r of rules) {
        const v = node.labels[r.topologyKey];
        if (v !== undefined && r.domains.has(v)) return ANTI_AFFINITY_MISMATCH;
      }
      return undefined;
    };
  },
};
