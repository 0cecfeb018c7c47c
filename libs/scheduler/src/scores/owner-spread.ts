// owner-spread.ts: score SelectorSpread: replicas of one owner (see ownerKeyOf) spread over
// nodes, and over zones when nodes carry the zone label. A node scores 100 * (most replicas on
// any candidate node - replicas here) / most; with zones, a third of that and two thirds of the
// same measure over the candidates' zones.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';

export const ownerSpread: Score = {
  name: 'SelectorSpread',
  weight: 2,
  score(pod, nodes, snapshot) {
    const owner = snapshot.ownerCounts(pod.ownerKey);
    if (owner === undefined) return undefined;
    let maxNode = 0;
    let maxZone = 0;
    let zoned = false;
    for (const node of nodes) {
      const n = owner.byNode.get(node.name) ?? 0;
      if (n > maxNode) maxNode = n;
      if (node.zone !== undefined) {
        zoned = true;
        const z = owner.byZone.get(node.zone) ?? 0;
        if (z > maxZone) maxZone = z;
      }
    }
    if (maxNode === 0 && maxZone === 0) return undefined;
    const out = new Float64Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      const nodeScore = maxNode === 0 ? 100 : (100 * (maxNode - (owner.byNode.get(node.name) ?? 0))) / maxNode;
      if (!zoned || node.zone === undefined) {
        out[i] = nodeScore;
        continue;
      }
      const zoneScore = maxZone === 0 ? 100 : (100 * (maxZone - (owner.byZone.get(node.zone) ?? 0))) / maxZone;
      out[i] = nodeScore / 3 + (zoneScore * 2) / 3;
    }
    return out;
  },
};
