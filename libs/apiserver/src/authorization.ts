// authorization.ts: who may do what through the API, decided from the identity of the client's
// certificate (mutual TLS): its organization says its role, its common name who it is.
//
//   tugboat:admins   everything
//   tugboat:members  everything (control members: what one forwards was authorized where the
//                    client called)
//   tugboat:viewers  read every kind but Secrets; no writes
//   tugboat:nodes    a node agent, CN = its Node (after Kubernetes' Node authorizer): read
//                    Nodes, Services and Endpoints; read the Pods bound to its node (a list or
//                    watch must select spec.nodeName=NODE) and the ConfigMaps and Secrets those
//                    pods use; write its own Node and its Lease in tug-node-lease, its pods'
//                    status, the final delete of its pods, and Events
//
// Calls without an identity (made inside a member, or on a listener started with
// --insecure-plaintext) are not checked. A node's writes of its own Node are also limited in
// what they change (nodeSelfWrite, after Kubernetes' NodeRestriction). Every decision is pure: `view` reads the member's
// store for what a node's pods use.
import type { Pod } from '@tugboat/api';
import { NODE_LEASE_NAMESPACE } from '@tugboat/api';
import { ROLE_ORGANIZATIONS } from '@tugboat/pki';
import { GrpcError, Status } from '@tugboat/proto';
import type { CallContext, Identity } from '@tugboat/proto';

/** The organizations of the roles, as @tugboat/pki writes them into certificates. */
const ROLES = { admins: ROLE_ORGANIZATIONS.admin, members: ROLE_ORGANIZATIONS.member, viewers: ROLE_ORGANIZATIONS.viewer, nodes: ROLE_ORGANIZATIONS.agent } as const;

export type AccessVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'update status' | 'delete' | 'txn' | 'forward writes' | 'change membership' | 'manage bootstrap tokens';

/** AccessRequest is one thing a client asks to do. */
export interface AccessRequest {
  readonly verb: AccessVerb;
  readonly kind: string;
  /** '' for cluster-scoped kinds, and for lists and watches of every namespace. */
  readonly namespace: string;
  /** '' for lists and watches. */
  readonly name: string;
  /** fieldSelector of a list or watch. */
  readonly fieldSelector?: string;
}

/** AccessView is what the decision may read of the store. */
export interface AccessView {
  /** pod is the stored Pod, if any. */
  pod(namespace: string, name: string): Pod | undefined;
  /** podsOn are the pods of a namespace bound to a node. */
  podsOn(node: string, namespace: string): readonly Pod[];
}

const READ_VERBS: ReadonlySet<AccessVerb> = new Set(['get', 'list', 'watch']);

/** describeRequest names what was asked, for refusals: "get secrets default/db". */
export function describeRequest(req: AccessRequest): string {
  const what = req.kind === '' ? 'the cluster' : `${req.kind.toLowerCase()}s`;
  const where = req.name === '' ? (req.namespace === '' ? '' : ` in namespace ${req.namespace}`) : ` ${req.namespace === '' ? '' : `${req.namespace}/`}${req.name}`;
  return `${req.verb} ${what}${where}`;
}

/** describeIdentity names the client, for refusals: 'node "node-2" (tugboat:nodes)'. */
export function describeIdentity(who: Identity): string {
  const role = Object.entries(ROLES).find(([, o]) => o === who.organization)?.[0];
  const noun = role === 'nodes' ? 'node' : role === 'viewers' ? 'viewer' : role === 'admins' ? 'admin' : role === 'members' ? 'member' : 'client';
  return `${noun} "${who.commonName}" (${who.organization === '' ? 'no organization' : who.organization})`;
}

/** usesObject tells whether a pod uses the ConfigMap or Secret of that name (volumes, env, envFrom). */
function usesObject(pod: Pod, kind: 'ConfigMap' | 'Secret', name: string): boolean {
  for (const v of pod.spec.volumes ?? []) {
    if (kind === 'ConfigMap' && v.configMap?.name === name) return true;
    if (kind === 'Secret' && v.secret?.secretName === name) return true;
  }
  for (const c of pod.spec.containers) {
    for (const e of c.env ?? []) {
      if (kind === 'ConfigMap' && e.valueFrom?.configMapKeyRef?.name === name) return true;
      if (kind === 'Secret' && e.valueFrom?.secretKeyRef?.name === name) return true;
    }
    for (const f of c.envFrom ?? []) {
      if (kind === 'ConfigMap' && f.configMapRef?.name === name) return true;
      if (kind === 'Secret' && f.secretRef?.name === name) return true;
    }
  }
  return false;
}

/** selectsNode: the field selector has the term spec.nodeName=NODE. */
function selectsNode(fieldSelector: string | undefined, node: string): boolean {
  return (fieldSelector ?? '').split(',').some((t) => t.trim().replace(/==/, '=') === `spec.nodeName=${node}`);
}

/** nodeAccess decides for the agent of `node`; undefined: allowed, else why not. */
function nodeAccess(node: string, req: AccessRequest, view: AccessView): string | undefined {
  const read = READ_VERBS.has(req.verb);
  switch (req.kind) {
    case 'Node':
      if (read) return undefined;
      if (['create', 'update', 'update status'].includes(req.verb)) return req.name === node ? undefined : 'a node writes only its own Node';
      return 'a node may not delete Nodes';
    case 'Service':
    case 'Endpoints':
      return read ? undefined : `a node only reads ${req.kind === 'Service' ? 'Services' : 'Endpoints'}`;
    case 'Lease':
      if (req.namespace === NODE_LEASE_NAMESPACE && req.name === node && ['get', 'create', 'update'].includes(req.verb)) return undefined;
      return `a node reads and writes only its own Lease, ${NODE_LEASE_NAMESPACE}/${node}`;
    case 'Event':
      return req.verb === 'create' ? undefined : 'a node only creates Events';
    case 'Pod': {
      if (req.verb === 'list' || req.verb === 'watch') {
        return selectsNode(req.fieldSelector, node) ? undefined : `a node lists and watches only the pods bound to it: select spec.nodeName=${node}`;
      }
      if (!['get', 'update status', 'delete'].includes(req.verb)) return 'a node may only read its pods, write their status and delete them once stopped';
      const pod = view.pod(req.namespace, req.name);
      if (pod === undefined) return req.verb === 'get' ? `no pod ${req.namespace}/${req.name} is bound to it` : undefined;
      return pod.spec.nodeName === node ? undefined : `pod ${req.namespace}/${req.name} is not bound to ${node}`;
    }
    case 'ConfigMap':
    case 'Secret': {
      if (req.verb !== 'get') return `a node only gets the ${req.kind}s its pods use, one by name`;
      const used = view.podsOn(node, req.namespace).some((p) => usesObject(p, req.kind as 'ConfigMap' | 'Secret', req.name));
      return used ? undefined : `no pod bound to ${node} uses it`;
    }
    default:
      return `a node has no access to ${req.kind}s`;
  }
}

/** NODE_RESTRICTION_PREFIX: labels only admins set on Nodes (to steer workloads to nodes a node
 *  cannot claim to be), as Kubernetes' NodeRestriction keeps them. */
export const NODE_RESTRICTION_PREFIX = 'node-restriction.kubernetes.io/';

interface NodeLike {
  readonly metadata?: { readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: { readonly podCIDR?: string; readonly unschedulable?: boolean; readonly taints?: readonly { key: string; value?: string; effect: string }[] };
}

/**
 * nodeSelfWrite decides what a node's agent may change of its own Node (after Kubernetes'
 * NodeRestriction admission), given the Node it sends and the stored one (none on create): not
 * labels under NODE_RESTRICTION_PREFIX, nor spec.podCIDR (node IPAM's), nor spec.unschedulable
 * (an admin's cordon), nor taints others set (it may add taints, from its --taints). undefined:
 * allowed, else why not.
 */
export function nodeSelfWrite(next: NodeLike, prev: NodeLike | undefined): string | undefined {
  const labels = (n: NodeLike | undefined): Record<string, string> => Object.fromEntries(Object.entries(n?.metadata?.labels ?? {}).filter(([k]) => k.startsWith(NODE_RESTRICTION_PREFIX)));
  const restricted = (n: NodeLike | undefined): string => JSON.stringify(Object.entries(labels(n)).sort());
  if (restricted(next) !== restricted(prev)) return `a node may not set or change ${NODE_RESTRICTION_PREFIX}* labels`;
  if ((next.spec?.podCIDR ?? '') !== (prev?.spec?.podCIDR ?? '')) return 'a node may not set spec.podCIDR (node IPAM assigns it)';
  if ((next.spec?.unschedulable ?? false) !== (prev?.spec?.unschedulable ?? false)) return 'a node may not cordon or uncordon itself (spec.unschedulable)';
  const key = (t: { key: string; value?: string; effect: string }): string => `${t.key}=${t.value ?? ''}:${t.effect}`;
  const kept = new Set((next.spec?.taints ?? []).map(key));
  const dropped = (prev?.spec?.taints ?? []).map(key).find((t) => !kept.has(t));
  if (dropped !== undefined) return `a node may not remove or change the taint ${dropped}`;
  return undefined;
}

/** allowNodeSelfWrite throws PERMISSION_DENIED, naming who, what and why, when a node's agent
 *  changes of its own Node what nodeSelfWrite keeps from it; other callers pass. */
export function allowNodeSelfWrite(ctx: CallContext, req: AccessRequest, next: NodeLike, prev: NodeLike | undefined): void {
  const who = ctx.identity;
  if (req.kind !== 'Node' || req.verb === 'update status' || who?.organization !== ROLES.nodes) return;
  const why = nodeSelfWrite(next, prev);
  if (why !== undefined) throw new GrpcError(Status.PERMISSION_DENIED, `${describeIdentity(who)} may not ${describeRequest(req)}: ${why}`);
}

/** isRestricted: the identity's role does not allow everything (so requests are checked). */
export function isRestricted(who: Identity | undefined): who is Identity {
  return who !== undefined && who.organization !== ROLES.admins && who.organization !== ROLES.members;
}

/** authorize decides a request: undefined when it is allowed, else the reason it is not. */
export function authorize(who: Identity | undefined, req: AccessRequest, view: AccessView): string | undefined {
  if (who === undefined) return undefined;
  switch (who.organization) {
    case ROLES.admins:
    case ROLES.members:
      return undefined;
    case ROLES.viewers:
      if (!READ_VERBS.has(req.verb)) return 'viewers only read';
      return req.kind === 'Secret' ? 'viewers do not read Secrets' : undefined;
    case ROLES.nodes:
      if (req.kind === '') return `only admins and members ${req.verb === 'txn' ? 'write in transactions' : req.verb}`;
      return nodeAccess(who.commonName, req, view);
    default:
      return `the certificate's organization ${JSON.stringify(who.organization)} is no role of this cluster (${Object.values(ROLES).join(', ')})`;
  }
}

/** allow throws PERMISSION_DENIED, naming who, what and why, unless the caller may do what
 *  `request` says. It is made only for callers whose role does not allow everything, so a
 *  write a follower passes on for an admin is not parsed there. */
export function allow(ctx: CallContext, request: () => AccessRequest, view: AccessView): void {
  if (!isRestricted(ctx.identity)) return;
  const req = request();
  const why = authorize(ctx.identity, req, view);
  if (why !== undefined) throw new GrpcError(Status.PERMISSION_DENIED, `${describeIdentity(ctx.identity)} may not ${describeRequest(req)}: ${why}`);
}

/** NO_OBJECTS: the view of calls that name no object (membership changes, forwarded writes). */
const NO_OBJECTS: AccessView = { pod: () => undefined, podsOn: () => [] };

/** allowClusterCall is allow for a call about the cluster rather than an object. */
export function allowClusterCall(ctx: CallContext, verb: 'change membership' | 'forward writes' | 'manage bootstrap tokens'): void {
  allow(ctx, () => ({ verb, kind: '', namespace: '', name: '' }), NO_OBJECTS);
}
