// node-affinity.ts: score NodeAffinity: the weights of the pod's preferred node affinity terms
// a node matches, summed, scaled so that the best node gets 100.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import { termMatches } from '../filters/node-affinity.ts';

export const preferredNodeAffinity: Score = {
  name: 'NodeAffinity',
  weight: 2,
  score(pod, nodes) {
    const terms = pod.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (terms.length === 0) return undefined;
    const out = new Float64Array(nodes.length);
    let max = 0;
    for (let i = 0; i < nodes.length; i++) {
      let sum = 0;
      for (const t of terms) if (termMatches(t.preference, nodes[i] as NodeInfo)) sum += t.weight;
      out[i] = sum;
      if (sum > max) max = sum;
    }
    if (max === 0) return undefined;
    for (let i = 0; i < out.length; i++) out[i] = ((out[i] as number) / max) * 100;
    return out;
  },
};
