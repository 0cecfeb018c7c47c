/**
 * host-gw routing: every node routes each other node's pod CIDR via that node's internal IP
 * (the nodes share one L2 segment: a host bridge locally, a private network on VMs).
 *
 * Our routes carry their own routing protocol number, {@link ROUTE_PROTO} (201), so that the
 * agent only ever reads (`ip -j route show proto 201`) and changes routes it made itself and
 * never touches routes of the host or other software.
 */
import type { Node } from '@tugboat/api';
import { parseCidr, parseIPv4, formatCidr, cidrContains } from './cidr.ts';

/** The `proto` number tugboat stamps on its routes (unassigned in /etc/iproute2/rt_protos). */
export const ROUTE_PROTO = 201;

/** What routing needs to know about one node. */
export interface NodeRouteInfo {
  name: string;
  podCIDR: string;
  internalIP: string;
}

/** One desired route: `dst` via `gateway`. */
export interface Route {
  dst: string;
  gateway: string;
}

/** One element of `ip -j route show ...` output (only the fields we use). */
export interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  /** iproute2 prints a protocol name when rt_protos knows it, else the number (as a string). */
  protocol?: string | number;
  [key: string]: unknown;
}

/** An `ip` command (argv after "ip") plus what it is for. */
export interface RouteCommand {
  op: 'add' | 'replace' | 'delete';
  dst: string;
  gateway?: string;
  argv: string[];
}

/**
 * Extract routing info from API Nodes: the node's spec.podCIDR and its InternalIP address.
 * Nodes missing either are skipped (they have not registered fully yet).
 */
export function nodeRouteInfos(nodes: readonly Node[]): NodeRouteInfo[] {
  const out: NodeRouteInfo[] = [];
  for (const n of nodes) {
    const name = n.metadata.name;
    const podCIDR = n.spec?.podCIDR;
    const internalIP = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (name && podCIDR && internalIP) out.push({ name, podCIDR, internalIP });
  }
  return out;
}

/**
 * The routes this node should have: one per OTHER node, its pod CIDR via its internal IP,
 * sorted by destination. Our own CIDR is on the bridge and gets no route. Throws when two
 * nodes claim the same pod CIDR (a route can only have one gateway) or on malformed input.
 */
export function desiredRoutes(selfName: string, nodes: readonly NodeRouteInfo[]): Route[] {
  const byDst = new Map<string, Route & { owner: string }>();
  for (const n of nodes) {
    const dst = formatCidr(parseCidr(n.podCIDR));
    parseIPv4(n.internalIP);
    const prev = byDst.get(dst);
    if (prev && prev.owner !== n.name) {
      throw new Error(`pod CIDR ${dst} is claimed by both node ${prev.owner} and node ${n.name}`);
    }
    byDst.set(dst, { dst, gateway: n.internalIP, owner: n.name });
  }
  const self = nodes.find((n) => n.name === selfName);
  const routes: Route[] = [];
  for (const r of byDst.values()) {
    if (r.owner === selfName) continue;
    if (self && cidrContains(parseCidr(r.dst), self.internalIP)) {
      throw new Error(`pod CIDR ${r.dst} of node ${r.owner} contains this node's IP ${self.internalIP}`);
    }
    routes.push({ dst: r.dst, gateway: r.gateway });
  }
  return routes.sort((a, b) => parseCidr(a.dst).base - parseCidr(b.dst).base);
}

function isOurs(r: IpRouteJson): boolean {
  return r.protocol === undefined || String(r.protocol) === String(ROUTE_PROTO);
}

/**
 * Commands that turn `current` (parsed `ip -j route show proto 201`; routes of other
 * protocols are ignored if present) into `desired`: `add` for missing routes, `replace`
 * when the gateway changed, `delete` for routes of nodes that are gone. Deletes come first
 * so a CIDR that moved never briefly has two routes; output is deterministic.
 */
export function diffRoutes(current: readonly IpRouteJson[], desired: readonly Route[]): RouteCommand[] {
  const proto = String(ROUTE_PROTO);
  const have = new Map<string, IpRouteJson>();
  for (const r of current) if (isOurs(r)) have.set(normDst(r.dst), r);
  const want = new Map(desired.map((r) => [formatCidr(parseCidr(r.dst)), r]));
  const deletes: RouteCommand[] = [];
  const changes: RouteCommand[] = [];
  for (const [dst] of [...have].sort()) {
    if (!want.has(dst)) deletes.push({ op: 'delete', dst, argv: ['route', 'del', dst, 'proto', proto] });
  }
  for (const [dst, r] of want) {
    const cur = have.get(dst);
    if (!cur) {
      changes.push({ op: 'add', dst, gateway: r.gateway, argv: ['route', 'add', dst, 'via', r.gateway, 'proto', proto] });
    } else if (cur.gateway !== r.gateway) {
      changes.push({
        op: 'replace',
        dst,
        gateway: r.gateway,
        argv: ['route', 'replace', dst, 'via', r.gateway, 'proto', proto],
      });
    }
  }
  return [...deletes, ...changes];
}

/** `ip -j` prints a /32 host route's dst without the prefix; normalise to CIDR form. */
function normDst(dst: string): string {
  return dst.includes('/') ? formatCidr(parseCidr(dst)) : `${dst}/32`;
}
