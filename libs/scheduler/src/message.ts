// message.ts: why a pod fits nowhere, in the words Kubernetes uses:
// "0/3 nodes are available: 2 Insufficient memory, 1 node(s) were unschedulable."

/** unschedulableMessage counts each reason once per node that gave it; most frequent first, then by text. */
export function unschedulableMessage(nodeCount: number, reasons: ReadonlyMap<string, number>): string {
  if (nodeCount === 0) return '0/0 nodes are available: no nodes available to schedule pods.';
  const parts = [...reasons]
    .sort(([ra, na], [rb, nb]) => nb - na || (ra < rb ? -1 : ra > rb ? 1 : 0))
    .map(([reason, n]) => `${n} ${reason}`);
  return parts.length === 0 ? `0/${nodeCount} nodes are available.` : `0/${nodeCount} nodes are available: ${parts.join(', ')}.`;
}
