// kinds.ts: the kind registry: API version, resource names and scope of every served kind.

import { UnknownKindError } from './errors.ts';
import type { Kind, Lease, Namespace } from './types.ts';

/** KindInfo describes one served kind. */
export interface KindInfo {
  readonly kind: Kind;
  /** "v1" for core kinds, "apps/v1" for Deployment and ReplicaSet, "coordination.k8s.io/v1" for Lease. */
  readonly apiVersion: string;
  /** API group: "" for core, "apps", "coordination.k8s.io". */
  readonly group: string;
  readonly version: string;
  /** Lowercase plural resource name ("pods"). */
  readonly plural: string;
  /** Lowercase singular resource name ("pod"). */
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** False for cluster-scoped kinds (Namespace, Node). */
  readonly namespaced: boolean;
}

function info(
  kind: Kind,
  group: string,
  plural: string,
  shortNames: readonly string[],
  namespaced: boolean,
): KindInfo {
  return Object.freeze({
    kind,
    apiVersion: group ? `${group}/v1` : 'v1',
    group,
    version: 'v1',
    plural,
    singular: kind.toLowerCase(),
    shortNames: Object.freeze([...shortNames]),
    namespaced,
  });
}

/** KINDS lists every served kind, in the order listings show them. */
export const KINDS: readonly KindInfo[] = Object.freeze([
  info('Namespace', '', 'namespaces', ['ns'], false),
  info('Node', '', 'nodes', ['no'], false),
  info('Pod', '', 'pods', ['po'], true),
  info('ReplicaSet', 'apps', 'replicasets', ['rs'], true),
  info('Deployment', 'apps', 'deployments', ['deploy'], true),
  info('Service', '', 'services', ['svc'], true),
  info('Endpoints', '', 'endpoints', ['ep'], true),
  info('ConfigMap', '', 'configmaps', ['cm'], true),
  info('Secret', '', 'secrets', [], true),
  info('Event', '', 'events', ['ev'], true),
  info('Lease', 'coordination.k8s.io', 'leases', [], true),
]);

/** NAMESPACED_KINDS: the kinds whose objects live in a namespace (and go when it is deleted). */
export const NAMESPACED_KINDS: readonly Kind[] = Object.freeze(KINDS.filter((k) => k.namespaced).map((k) => k.kind));

/** DEFAULT_NAMESPACE: the namespace that always exists and that namespaced objects default to. */
export const DEFAULT_NAMESPACE = 'default';

/**
 * NODE_LEASE_NAMESPACE: the namespace of the node Leases, one per Node and named after it, that
 * the agents renew as their heartbeat (Kubernetes' kube-node-lease).
 */
export const NODE_LEASE_NAMESPACE = 'tug-node-lease';

/** PROTECTED_NAMESPACES: namespaces that cannot be deleted. */
export const PROTECTED_NAMESPACES: readonly string[] = Object.freeze([DEFAULT_NAMESPACE, NODE_LEASE_NAMESPACE]);

/** LEASE_DURATION_BEATS: a node Lease's leaseDurationSeconds is this many heartbeat periods (the
 *  kubelet renews its 40 s lease every 10 s). */
export const LEASE_DURATION_BEATS = 4;

/**
 * nodeLease is the Lease a node's heartbeat writes at `now`: named after the node in
 * NODE_LEASE_NAMESPACE, held by the node, renewTime `now` to the millisecond, and
 * leaseDurationSeconds LEASE_DURATION_BEATS heartbeat periods (whole seconds, at least 1).
 */
export function nodeLease(nodeName: string, heartbeatSeconds: number, now: Date): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE },
    spec: {
      holderIdentity: nodeName,
      leaseDurationSeconds: Math.max(1, Math.ceil(heartbeatSeconds * LEASE_DURATION_BEATS)),
      renewTime: now.toISOString(),
    },
  };
}

/**
 * initialObjects returns the objects a new cluster starts with (the control plane creates those
 * missing): the `default` and NODE_LEASE_NAMESPACE Namespaces.
 */
export function initialObjects(): Namespace[] {
  return [DEFAULT_NAMESPACE, NODE_LEASE_NAMESPACE].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
    status: { phase: 'Active' },
  }));
}

const byKind = new Map<string, KindInfo>(KINDS.map((k) => [k.kind, k]));

// Every accepted spelling, lowercased: kind, plural, singular, short names, and the plural and
// singular qualified with the group (`deployments.apps`) and with version and group
// (`deployments.v1.apps`).
const byName = new Map<string, KindInfo>();
for (const k of KINDS) {
  const names = [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames];
  for (const n of names) byName.set(n, k);
  const group = k.group || 'core';
  for (const n of [k.plural, k.singular, k.kind.toLowerCase()]) {
    byName.set(`${n}.${group}`, k);
    byName.set(`${n}.${k.version}.${group}`, k);
  }
}

/** isKind tells whether `kind` is the exact (case-sensitive) name of a served kind. */
export function isKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && byKind.has(kind);
}

/** kindInfo returns the registry entry of a served kind. */
export function kindInfo(kind: Kind): KindInfo {
  const k = byKind.get(kind);
  if (k === undefined) throw new Error(`kindInfo: ${kind} is not a served kind`);
  return k;
}

/** isNamespaced tells whether objects of `kind` live in a namespace. */
export function isNamespaced(kind: Kind): boolean {
  return kindInfo(kind).namespaced;
}

/**
 * findKind looks up a kind by any spelling users type, case-insensitively: "Pod", "pods", "pod",
 * "po", "deployments.apps", "deployments.v1.apps", "pods.core". Undefined when unknown.
 */
export function findKind(name: string): KindInfo | undefined {
  return byName.get(name.trim().toLowerCase());
}

/** knownKindsText lists the served kinds with their short names, for error messages. */
export function knownKindsText(): string {
  return KINDS.map((k) => (k.shortNames.length ? `${k.kind} (${k.plural}, ${k.shortNames.join(', ')})` : `${k.kind} (${k.plural})`)).join(
    ', ',
  );
}

/** resolveKind is findKind that throws an UnknownKindError listing the known kinds. */
export function resolveKind(name: string): KindInfo {
  const k = findKind(name);
  if (k === undefined) {
    throw new UnknownKindError(name, `unknown kind or resource "${name}"; known kinds: ${knownKindsText()}`);
  }
  return k;
}
