// taints.ts: score TaintToleration: fewer PreferNoSchedule taints the pod does not tolerate is
// better; the node with the most gets 0, a node with none 100.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import { tolerates } from '../filters/taints.ts';

export const preferNoScheduleTaints: Score = {
  name: 'TaintToleration',
  weight: 3,
  score(pod, nodes, snapshot) {
    if (snapshot.softTaintNodes === 0) return undefined;
    const tolerations = pod.tolerations.filter((t) => t.effect === undefined || t.effect === '' || t.effect === 'PreferNoSchedule');
    const out = new Float64Array(nodes.length);
    let max = 0;
    for (let i = 0; i < nodes.length; i++) {
      let n = 0;
      for (const taint of (nodes[i] as NodeInfo).softTaints) if (!tolerations.some((t) => tolerates(t, taint))) n++;
      out[i] = n;
      if (n > max) max = n;
    }
    if (max === 0) return undefined;
    for (let i = 0; i < out.length; i++) out[i] = 100 - ((out[i] as number) / max) * 100;
    return out;
  },
};
