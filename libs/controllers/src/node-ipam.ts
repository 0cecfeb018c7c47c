/**
 * Node IPAM: which pod CIDR each new Node gets. Every node owns one /24 of the pod network
 * (libs/netconf: 10.244.N.0/24); a CIDR already on a Node is never handed out again.
 */
import type { Node } from '@tugboat/api';
import { allocatePodCidr } from '@tugboat/netconf';

/**
 * assignPodCidrs returns node name -> pod CIDR for every Node without spec.podCIDR, each the
 * lowest /24 not taken by any other Node (nor by an earlier assignment of this call). Nodes
 * are served oldest first (creationTimestamp, then name), so the same Nodes always get the same
 * CIDRs. Nodes being deleted get none. When the pod network is full, the Nodes left over get
 * none either (the caller reports them: see `unassignable`).
 */
export function assignPodCidrs(nodes: readonly Node[]): Map<string, string> {
  const taken: string[] = [];
  for (const n of nodes) {
    if (n.spec?.podCIDR) taken.push(n.spec.podCIDR);
    for (const c of n.spec?.podCIDRs ?? []) taken.push(c);
  }
  const waiting = nodes
    .filter((n) => !n.spec?.podCIDR && n.metadata.deletionTimestamp === undefined && n.metadata.name)
    .sort(byAge);
  const out = new Map<string, string>();
  for (const n of waiting) {
    let cidr: string;
    try {
      cidr = allocatePodCidr(taken);
    } catch {
      break; // The pod network is exhausted.
    }
    taken.push(cidr);
    out.set(n.metadata.name!, cidr);
  }
  return out;
}

/** unassignable names the Nodes that still lack a pod CIDR after `assigned` (the pod network is full). */
export function unassignable(nodes: readonly Node[], assigned: ReadonlyMap<string, string>): string[] {
  return nodes
    .filter((n) => !n.spec?.podCIDR && n.metadata.deletionTimestamp === undefined && n.metadata.name && !assigned.has(n.metadata.name))
    .sort(byAge)
    .map((n) => n.metadata.name!);
}

function byAge(a: Node, b: Node): number {
  // A Node without a (readable) creationTimestamp counts as the oldest.
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}
