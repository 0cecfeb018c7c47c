// pod-anti-affinity.ts: score InterPodAntiAffinity (preferred terms): each term costs a node its
// weight times the pods the term selects in the node's topology domain; the costs are scaled so
// that the cheapest node gets 100 and the dearest 0.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import { termNamespaces } from '../snapshot.ts';
import { inverted } from './normalize.ts';

export const preferredPodAntiAffinity: Score = {
  name: 'InterPodAntiAffinity',
  weight: 2,
  score(pod, nodes, snapshot) {
    const terms = pod.pod.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (terms.length === 0) return undefined;
    const cost = new Float64Array(nodes.length);
    for (const { weight, podAffinityTerm: term } of terms) {
      if (term.labelSelector === undefined) continue;
      const byNode = snapshot.matchingPodsByNode(termNamespaces(term, pod.namespace), term.labelSelector);
      if (byNode.size === 0) continue;
      const byDomain = new Map<string, number>();
      for (const [name, n] of byNode) {
        const v = snapshot.nodeInfo(name)?.labels[term.topologyKey];
        if (v !== undefined) byDomain.set(v, (byDomain.get(v) ?? 0) + n);
      }
      for (let i = 0; i < nodes.length; i++) {
        const v = (nodes[i] as NodeInfo).labels[term.topologyKey];
        if (v !== undefined) cost[i] = (cost[i] as number) + weight * (byDomain.get(v) ?? 0);
      }
    }
    return inverted(cost);
  },
};
