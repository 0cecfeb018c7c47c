/**
 * IPv4 and CIDR arithmetic plus the two address allocators tugboat needs:
 *
 * - pod CIDRs: every node gets one /24 out of {@link POD_NETWORK} (10.244.0.0/16), so node
 *   index N owns 10.244.N.0/24 and at most 256 nodes fit;
 * - ClusterIPs: services get one address out of {@link SERVICE_NETWORK} (10.96.0.0/16).
 *   Reserved and never handed out by {@link allocateClusterIP}: the network address
 *   (10.96.0.0), the first host 10.96.0.1 (by convention the API server's "kubernetes"
 *   service, as in Kubernetes), 10.96.0.10 (the cluster DNS service, {@link DNS_CLUSTER_IP};
 *   callers that create that service pass it explicitly) and the broadcast address
 *   10.96.255.255.
 *
 * Everything here is pure: no I/O, deterministic results for the same input.
 */

/** A parsed IPv4 CIDR: `base` is the network address (host bits zero) as an unsigned 32-bit number. */
export interface Cidr {
  base: number;
  prefix: number;
}

/** The cluster's pod network; each node owns a /24 of it. */
export const POD_NETWORK = '10.244.0.0/16';
/** Prefix length of one node's pod CIDR. */
export const NODE_POD_PREFIX = 24;
/** The cluster's service (ClusterIP) network. */
export const SERVICE_NETWORK = '10.96.0.0/16';
/** The ClusterIP reserved for the API server service ("kubernetes.default"). */
export const API_CLUSTER_IP = '10.96.0.1';
/** The ClusterIP reserved for the cluster DNS service. */
export const DNS_CLUSTER_IP = '10.96.0.10';

/** Parse dotted-quad IPv4 text into an unsigned 32-bit number; throws a clear Error on bad input. */
export function parseIPv4(text: string): number {
  if (typeof text !== 'string') throw new Error(`invalid IPv4 address: expected a string, got ${typeof text}`);
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}": expected 4 dot-separated octets`);
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) {
      throw new Error(`invalid IPv4 address "${text}": octet "${part}" is not a decimal number without leading zeros`);
    }
    const n = Number(part);
    if (n > 255) throw new Error(`invalid IPv4 address "${text}": octet ${n} is greater than 255`);
    value = value * 256 + n;
  }
  return value;
}

/** Format an unsigned 32-bit number as dotted-quad IPv4 text. */
export function formatIPv4(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`invalid IPv4 value ${value}: must be an integer in [0, 2^32)`);
  }
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The network mask of a prefix length as an unsigned 32-bit number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parse "a.b.c.d/n". Host bits must be zero ("10.244.1.5/24" is rejected: it names an
 * address, not a network), so two spellings of one network cannot both exist.
 */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string') throw new Error(`invalid CIDR: expected a string, got ${typeof text}`);
  const slash = text.indexOf('/');
  if (slash < 0) throw new Error(`invalid CIDR "${text}": missing "/prefix"`);
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText) || Number(prefixText) > 32) {
    throw new Error(`invalid CIDR "${text}": prefix length "${prefixText}" must be an integer 0-32`);
  }
  const prefix = Number(prefixText);
  let base: number;
  try {
    base = parseIPv4(addr);
  } catch (err) {
    throw new Error(`invalid CIDR "${text}": ${(err as Error).message}`, { cause: err });
  }
  const mask = prefixMask(prefix);
  if (((base & ~mask) >>> 0) !== 0) {
    throw new Error(
      `invalid CIDR "${text}": host bits are set (did you mean ${formatIPv4((base & mask) >>> 0)}/${prefix}?)`,
    );
  }
  return { base, prefix };
}

/** Format a Cidr as "a.b.c.d/n". */
export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.base)}/${cidr.prefix}`;
}

/** Number of addresses in a CIDR (2^(32-prefix)). */
export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** Whether the IPv4 address (number or text) lies inside the CIDR. */
export function cidrContains(cidr: Cidr, ip: number | string): boolean {
  const v = typeof ip === 'string' ? parseIPv4(ip) : ip;
  return ((v & prefixMask(cidr.prefix)) >>> 0) === cidr.base;
}

/** Whether two CIDRs share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixMask(p);
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

/** The gateway address of a node pod CIDR: its first host (e.g. 10.244.3.1), used by the bridge. */
export function gatewayOf(cidr: Cidr | string): string {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  return formatIPv4(c.base + 1);
}

/** The pod CIDR of node index `index` (0-255): 10.244.<index>.0/24. */
export function podCidrFor(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 255) {
    throw new Error(`pod CIDR index ${index} out of range: must be an integer 0-255 (10.244.0.0/16 holds 256 /24s)`);
  }
  const net = parseCidr(POD_NETWORK);
  return formatCidr({ base: net.base + index * 256, prefix: NODE_POD_PREFIX });
}

/**
 * Deterministically pick the lowest free node pod CIDR (a /24 of 10.244.0.0/16) not
 * overlapping any of `taken` (CIDRs already assigned to nodes; entries outside the pod
 * network are ignored, malformed ones throw). Throws when all 256 are in use.
 */
export function allocatePodCidr(taken: Iterable<string>): string {
  const net = parseCidr(POD_NETWORK);
  const used = [...taken].map(parseCidr).filter((c) => cidrsOverlap(c, net));
  for (let i = 0; i < 256; i++) {
    const candidate: Cidr = { base: net.base + i * 256, prefix: NODE_POD_PREFIX };
    if (!used.some((u) => cidrsOverlap(u, candidate))) return formatCidr(candidate);
  }
  throw new Error(`pod network ${POD_NETWORK} is exhausted: all 256 node /24s are taken`);
}

/** Whether `ip` is one of the ClusterIPs the allocator never hands out (see module doc). */
export function isReservedClusterIP(ip: string): boolean {
  const net = parseCidr(SERVICE_NETWORK);
  const v = parseIPv4(ip);
  return (
    v === net.base ||
    v === net.base + cidrSize(net) - 1 ||
    ip === API_CLUSTER_IP ||
    ip === DNS_CLUSTER_IP
  );
}

/**
 * Allocate a ClusterIP from 10.96.0.0/16: the lowest address that is neither reserved (see
 * the module doc) nor in `taken`. Deterministic, so replaying the same history gives the
 * same addresses. `taken` may be a Set for O(1) lookups with many services. Throws when the
 * range is full.
 */
export function allocateClusterIP(taken: Iterable<string>): string {
  const net = parseCidr(SERVICE_NETWORK);
  const used = taken instanceof Set ? (taken as Set<string>) : new Set(taken);
  const size = cidrSize(net);
  for (let off = 1; off < size - 1; off++) {
    const ip = formatIPv4(net.base + off);
    if (used.has(ip) || isReservedClusterIP(ip)) continue;
    return ip;
  }
  throw new Error(`service network ${SERVICE_NETWORK} is exhausted`);
}
