/**
 * Service address allocation: ClusterIPs from the service network (10.96.0.0/16) and nodePorts
 * from 30000-32767, decided by the leader's admission and written in the same Raft entry as the
 * Service itself, so that no two Services ever hold one address or one port, also across a
 * leader change.
 *
 * Every address or port in use is an object of the internal, cluster-scoped kind
 * `ServiceAllocation`, named after it (`clusterip-10.96.0.5`, `nodeport-30080`), whose spec
 * names the Service that holds it. A Service create carries a create of each allocation it
 * takes: the store refuses the whole entry when one exists (AlreadyExists), so uniqueness is
 * the store's guarantee, not the leader's bookkeeping. An update carries creates of what it
 * takes and deletes of what it gives up; a delete carries deletes of everything the Service
 * held. The kind is not in libs/api's registry, so the API refuses it in every call.
 *
 * Rules (as Kubernetes):
 * - clusterIP absent or "": allocated (a random free address; the network and broadcast
 *   addresses, 10.96.0.1 and 10.96.0.10 are never handed out). Requested: it must lie in the
 *   service network, not be reserved, and be free. "None": headless, nothing allocated.
 * - An update that leaves clusterIP out keeps the allocated one; a different one is refused by
 *   validation (immutable).
 * - Types NodePort and LoadBalancer: each port gets a nodePort (requested, or allocated at
 *   random); an update that leaves a port's nodePort out keeps the one allocated for the same
 *   port and protocol. Changing to type ClusterIP releases them.
 * - A Namespace deletion removes its Services in the store without these deletes: the leader's
 *   housekeeping releases allocations whose Service no longer holds them (orphanedAllocations).
 *
 * Everything here is pure; the caller (objects.ts) reads the store and proposes.
 */
import { NODE_PORT_MAX, NODE_PORT_MIN, SERVICE_TYPES_WITH_NODE_PORTS } from '@tugboat/api';
import type { Service } from '@tugboat/api';
import { API_CLUSTER_IP, DNS_CLUSTER_IP, SERVICE_NETWORK, cidrContains, cidrSize, formatIPv4, parseCidr, parseIPv4 } from '@tugboat/netconf';
import type { Op, StoredObject } from '@tugboat/store';

/** ALLOCATION_KIND is the internal kind of one allocated ClusterIP or nodePort. */
export const ALLOCATION_KIND = 'ServiceAllocation';

/** AllocationError is an allocation request that cannot be met; `field` is the Service field at fault. */
export class AllocationError extends Error {
  override readonly name = 'AllocationError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

export function isAllocationError(e: unknown): e is AllocationError {
  return e instanceof Error && e.name === 'AllocationError';
}

/** clusterIPAllocation and nodePortAllocation name the allocation objects. */
export function clusterIPAllocation(ip: string): string {
  return `clusterip-${ip}`;
}
export function nodePortAllocation(port: number): string {
  return `nodeport-${port}`;
}

/** AllocationSpec is the spec of an allocation object: which Service holds it. */
export interface AllocationSpec {
  readonly namespace: string;
  readonly service: string;
}

function allocationObject(name: string, owner: AllocationSpec): { apiVersion: string; kind: string; metadata: { name: string }; spec: AllocationSpec } {
  return { apiVersion: 'tugboat.internal/v1', kind: ALLOCATION_KIND, metadata: { name }, spec: owner };
}

/** heldBy lists the allocation names a Service holds (none for a headless or unallocated one). */
export function heldBy(svc: Service | undefined): string[] {
  if (svc === undefined) return [];
  const out = new Set<string>();
  const ip = svc.spec.clusterIP;
  if (ip !== undefined && ip !== '' && ip !== 'None') out.add(clusterIPAllocation(ip));
  if (SERVICE_TYPES_WITH_NODE_PORTS.includes(svc.spec.type ?? 'ClusterIP')) {
    for (const p of svc.spec.ports ?? []) if (p.nodePort !== undefined) out.add(nodePortAllocation(p.nodePort));
  }
  return [...out];
}

const serviceNet = parseCidr(SERVICE_NETWORK);

/** checkRequestedClusterIP refuses an address outside the service network or reserved. */
function checkRequestedClusterIP(ip: string): void {
  let inside: boolean;
  try {
    inside = cidrContains(serviceNet, ip);
  } catch {
    inside = false;
  }
  if (!inside) {
    throw new AllocationError('spec.clusterIP', `invalid value "${ip}": not in the service network; the range of valid IPs is ${SERVICE_NETWORK}`);
  }
  const v = parseIPv4(ip);
  if (v === serviceNet.base || v === serviceNet.base + cidrSize(serviceNet) - 1) {
    throw new AllocationError('spec.clusterIP', `invalid value "${ip}": the network and broadcast addresses of ${SERVICE_NETWORK} cannot be used`);
  }
  if (ip === API_CLUSTER_IP) throw new AllocationError('spec.clusterIP', `invalid value "${ip}": reserved for the API server`);
  if (ip === DNS_CLUSTER_IP) throw new AllocationError('spec.clusterIP', `invalid value "${ip}": reserved for the cluster DNS that every node's tug-agent serves`);
}

/** pickFree returns the first free candidate scanning from a random start (wrapping), or undefined. */
function pickFree<T>(count: number, at: (i: number) => T, free: (v: T) => boolean, random: () => number): T | undefined {
  const start = Math.floor(random() * count);
  for (let k = 0; k < count; k++) {
    const v = at((start + k) % count);
    if (free(v)) return v;
  }
  return undefined;
}

/** ServiceAllocationPlan: the Service to write, with its addresses filled in, and the ops that take and release them. */
export interface ServiceAllocationPlan {
  readonly service: Service;
  /** ops: creates of the allocations taken, deletes of those given up (guarded by their resourceVersion). */
  readonly ops: Op[];
}

export interface AllocationView {
  /** allocation returns the stored allocation object of this name, if any. */
  allocation(name: string): StoredObject | undefined;
  /** random in [0, 1): where the scan for a free address starts. */
  random(): number;
}

/**
 * planServiceWrite fills in and allocates the addresses of `next`, a Service being created
 * (`cur` undefined) or replacing `cur`. Throws AllocationError when a requested address is
 * out of range, reserved or taken, or a range is exhausted. `next` must be validated and
 * defaulted; it is not changed (the plan's service is a copy).
 */
export function planServiceWrite(next: Service, cur: Service | undefined, view: AllocationView): ServiceAllocationPlan {
  const svc = structuredClone(next);
  const owner: AllocationSpec = { namespace: svc.metadata.namespace ?? 'default', service: svc.metadata.name ?? '' };
  const held = new Set(heldBy(cur));
  const taking = new Set<string>();
  const free = (name: string): boolean => !taking.has(name) && (held.has(name) || view.allocation(name) === undefined);

  // ClusterIP: kept, requested or allocated.
  const ip = svc.spec.clusterIP ?? '';
  if (ip === '' && cur?.spec.clusterIP !== undefined && cur.spec.clusterIP !== '') {
    svc.spec.clusterIP = cur.spec.clusterIP;
  } else if (ip === '') {
    const size = cidrSize(serviceNet);
    const chosen = pickFree(
      size - 2,
      (i) => formatIPv4(serviceNet.base + 1 + i),
      (a) => a !== API_CLUSTER_IP && a !== DNS_CLUSTER_IP && free(clusterIPAllocation(a)),
      view.random,
    );
    if (chosen === undefined) throw new AllocationError('spec.clusterIP', `no free address left in the service network ${SERVICE_NETWORK}`);
    svc.spec.clusterIP = chosen;
  } else if (ip !== 'None' && !held.has(clusterIPAllocation(ip))) {
    checkRequestedClusterIP(ip);
    if (!free(clusterIPAllocation(ip))) throw new AllocationError('spec.clusterIP', `invalid value "${ip}": provided IP is already allocated`);
  }
  if (svc.spec.clusterIP === 'None' && (svc.spec.type ?? 'ClusterIP') !== 'ClusterIP') {
    // Only reachable by an update that keeps a headless Service's clusterIP and changes its type.
    throw new AllocationError('spec.type', `invalid value "${svc.spec.type}": a headless Service (clusterIP None) must be of type ClusterIP`);
  }
  if (svc.spec.clusterIP !== undefined && svc.spec.clusterIP !== '') svc.spec.clusterIPs = [svc.spec.clusterIP];
  if (svc.spec.clusterIP !== 'None') taking.add(clusterIPAllocation(svc.spec.clusterIP ?? ''));

  // nodePorts: kept for the same port and protocol, requested, or allocated.
  const ports = svc.spec.ports ?? [];
  if (SERVICE_TYPES_WITH_NODE_PORTS.includes(svc.spec.type ?? 'ClusterIP')) {
    const before = SERVICE_TYPES_WITH_NODE_PORTS.includes(cur?.spec.type ?? 'ClusterIP') ? (cur?.spec.ports ?? []) : [];
    ports.forEach((p, i) => {
      if (p.nodePort === undefined) {
        const kept = before.find((b) => b.port === p.port && (b.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))?.nodePort;
        if (kept !== undefined && !taking.has(nodePortAllocation(kept))) p.nodePort = kept;
      }
      const field = `spec.ports[${i}].nodePort`;
      if (p.nodePort !== undefined) {
        if (!free(nodePortAllocation(p.nodePort))) throw new AllocationError(field, `invalid value ${p.nodePort}: provided port is already allocated`);
      } else {
        const chosen = pickFree(NODE_PORT_MAX - NODE_PORT_MIN + 1, (k) => NODE_PORT_MIN + k, (port) => free(nodePortAllocation(port)), view.random);
        if (chosen === undefined) throw new AllocationError(field, `no free port left in ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
        p.nodePort = chosen;
      }
      taking.add(nodePortAllocation(p.nodePort));
    });
  } else {
    for (const p of ports) delete p.nodePort;
  }

  const ops: Op[] = [];
  for (const name of [...taking].sort()) {
    if (!held.has(name)) ops.push({ op: 'create', object: allocationObject(name, owner) });
  }
  for (const name of [...held].sort()) {
    if (!taking.has(name)) ops.push(...releaseOps([name], view));
  }
  return { service: svc, ops };
}

/**
 * withoutKeptNodePorts is a Service replacement `raw` for `cur` with the nodePorts dropped that
 * it carries unchanged from `cur` while its type takes none (a NodePort Service turned back into
 * a ClusterIP one by an apply that keeps what the cluster filled in), as Kubernetes drops them.
 * A nodePort the request sets or changes stays, for validation to refuse. `raw` is not changed.
 */
export function withoutKeptNodePorts(raw: Record<string, unknown>, cur: Service): Record<string, unknown> {
  const spec = raw['spec'] as { type?: unknown; ports?: unknown } | undefined;
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.ports)) return raw;
  if (SERVICE_TYPES_WITH_NODE_PORTS.includes(typeof spec.type === 'string' ? spec.type : 'ClusterIP')) return raw;
  const had = new Set((cur.spec.ports ?? []).map((p) => p.nodePort).filter((n) => n !== undefined));
  const ports = (spec.ports as unknown[]).map((p) => {
    if (typeof p !== 'object' || p === null) return p;
    const { nodePort, ...rest } = p as { nodePort?: unknown };
    return typeof nodePort === 'number' && had.has(nodePort) ? rest : p;
  });
  return { ...raw, spec: { ...spec, ports } };
}

/** releaseOps are the deletes of the named allocations that exist, each guarded by its resourceVersion. */
export function releaseOps(names: readonly string[], view: Pick<AllocationView, 'allocation'>): Op[] {
  return names.flatMap((name): Op[] => {
    const a = view.allocation(name);
    return a === undefined ? [] : [{ op: 'delete', ref: { kind: ALLOCATION_KIND, name }, expectedResourceVersion: a.metadata.resourceVersion }];
  });
}

/**
 * orphanedAllocations returns the allocations no Service holds any more: its Service is gone
 * (a Namespace deletion) or holds other addresses now. `service` reads a stored Service.
 */
export function orphanedAllocations(allocations: readonly StoredObject[], service: (namespace: string, name: string) => Service | undefined): StoredObject[] {
  return allocations.filter((a) => {
    const spec = a.spec as Partial<AllocationSpec> | undefined;
    const svc = service(spec?.namespace ?? '', spec?.service ?? '');
    return !heldBy(svc).includes(a.metadata.name);
  });
}
