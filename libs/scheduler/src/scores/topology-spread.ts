// topology-spread.ts: score PodTopologySpread (whenUnsatisfiable ScheduleAnyway): a node costs
// the pods each such constraint selects in its domain; the costs are scaled so that the
// cheapest node gets 100 and the dearest 0. A node without a constraint's topologyKey gets 0.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import { domainCounts } from '../filters/topology-spread.ts';
import { inverted } from './normalize.ts';

export const softTopologySpread: Score = {
  name: 'PodTopologySpread',
  weight: 2,
  score(pod, nodes, snapshot) {
    const soft = (pod.pod.spec.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
    if (soft.length === 0) return undefined;
    const cost = new Float64Array(nodes.length);
    const unlabelled = new Uint8Array(nodes.length);
    for (const c of soft) {
      const counts = domainCounts(c, pod, snapshot);
      for (let i = 0; i < nodes.length; i++) {
        const v = (nodes[i] as NodeInfo).labels[c.topologyKey];
        if (v === undefined) unlabelled[i] = 1;
        else cost[i] = (cost[i] as number) + (counts.byDomain.get(v) ?? 0);
      }
    }
    let max = 0;
    for (let i = 0; i < nodes.length; i++) if (unlabelled[i] === 0 && (cost[i] as number) > max) max = cost[i] as number;
    // Nodes without the key rank below every node with it.
    for (let i = 0; i < nodes.length; i++) if (unlabelled[i] === 1) cost[i] = max + 1;
    return inverted(cost);
  },
};
