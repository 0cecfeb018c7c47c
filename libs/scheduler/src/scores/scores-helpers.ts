// scores-helpers.ts: running one score in the score tests.
import type { Pod } from '@tugboat/api';
import { podContext } from '../framework.ts';
import type { Score } from '../framework.ts';
import type { Snapshot } from '../snapshot.ts';

/** scores runs score for pod over every node of snapshot: node name to its score, rounded; undefined when the score has no preference. */
export function scores(score: Score, pod: Pod, snapshot: Snapshot): Record<string, number> | undefined {
  const nodes = snapshot.nodes();
  const out = score.score(podContext(pod), nodes, snapshot);
  if (out === undefined) return undefined;
  return Object.fromEntries(nodes.map((n, i) => [n.name, Math.round(out[i] as number)]));
}
