// taints.ts: filter TaintToleration: a pod goes only where it tolerates every NoSchedule and
// NoExecute taint (PreferNoSchedule taints only lower the score: scores/taints.ts).
import type { Taint, Toleration } from '@tugboat/api';
import type { Filter } from '../framework.ts';

/**
 * tolerates tells whether toleration t tolerates taint: same effect (or t names none), and the
 * same key and value (operator Equal, the default) or the same key (Exists; with no key, every
 * taint).
 */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  if (t.key === undefined || t.key === '') return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** untolerated returns the first of taints that no toleration tolerates. */
export function untolerated(tolerations: readonly Toleration[], taints: readonly Taint[]): Taint | undefined {
  return taints.find((taint) => !tolerations.some((t) => tolerates(t, taint)));
}

/** untoleratedMessage is the reason given for a node with an untolerated taint. */
export function untoleratedMessage(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

export const taintToleration: Filter = {
  name: 'TaintToleration',
  prepare(pod) {
    const tolerations = pod.tolerations;
    return (node) => {
      if (node.hardTaints.length === 0) return undefined;
      const taint = untolerated(tolerations, node.hardTaints);
      return taint === undefined ? undefined : untoleratedMessage(taint);
    };
  },
};
