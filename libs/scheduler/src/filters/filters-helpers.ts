// filters-helpers.ts: running one filter in the filter tests.
import type { Pod } from '@tugboat/api';
import { podContext } from '../framework.ts';
import type { Filter } from '../framework.ts';
import type { Snapshot } from '../snapshot.ts';

/** verdicts runs filter for pod on every node of snapshot: node name to its reason ('' when it passes). */
export function verdicts(filter: Filter, pod: Pod, snapshot: Snapshot): Record<string, string> {
  const check = filter.prepare(podContext(pod), snapshot);
  const out: Record<string, string> = {};
  for (const node of snapshot.nodes()) {
    const r = check?.(node);
    out[node.name] = r === undefined ? '' : typeof r === 'string' ? r : r.join(' + ');
  }
  return out;
}
