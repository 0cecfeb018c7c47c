// normalize.ts: turning raw per-node costs into 0-100 scores.

/** inverted maps costs to 100 (cheapest) .. 0 (dearest); undefined when all cost the same. */
export function inverted(cost: Float64Array): Float64Array | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const c of cost) {
    if (c < min) min = c;
    if (c > max) max = c;
  }
  if (!(max > min)) return undefined;
  const out = new Float64Array(cost.length);
  for (let i = 0; i < cost.length; i++) out[i] = (100 * (max - (cost[i] as number))) / (max - min);
  return out;
}
