/**
 * The member directory: where each control member serves the API, kept in the replicated store
 * so that every member can forward writes to the leader's API and report every member's API
 * address in ClusterService.Status.
 *
 * Each member has one object of the internal, cluster-scoped kind `ControlPlaneMember`, named
 * after it: `spec: {peerAddress, apiAddress}`. The kind is not in libs/api's registry, so the
 * API refuses it in every call (users can neither see nor change it); only the control plane
 * writes it, through Raft like any object. The leader writes its own record when it starts to
 * lead and the record of a member it adds; a follower whose record is missing or out of date
 * asks the leader to write it (ClusterService.AddMember with its own, unchanged addresses).
 */
import type { ObjectStore, StoredObject } from '@tugboat/store';
import { ALLOCATION_KIND } from './service-allocation.ts';

/** memberKind is the internal kind of the member directory. */
export const memberKind = 'ControlPlaneMember';

/** clusterScopedKinds are the store's cluster-scoped kinds: libs/api's and the internal ones (the directory, service allocations). Same on every member. */
export const clusterScopedKinds: readonly string[] = ['Namespace', 'Node', memberKind, ALLOCATION_KIND];

/** MemberRecord is one member's directory entry. */
export interface MemberRecord {
  readonly name: string;
  readonly peerAddress: string;
  readonly apiAddress: string;
}

/** memberObject is the store object for a record. */
export function memberObject(r: MemberRecord): { apiVersion: string; kind: string; metadata: { name: string }; spec: { peerAddress: string; apiAddress: string } } {
  return { apiVersion: 'tugboat.internal/v1', kind: memberKind, metadata: { name: r.name }, spec: { peerAddress: r.peerAddress, apiAddress: r.apiAddress } };
}

function fromObject(o: StoredObject | undefined): (MemberRecord & { resourceVersion: string }) | undefined {
  if (o === undefined) return undefined;
  const spec = o.spec as { peerAddress?: unknown; apiAddress?: unknown } | undefined;
  return {
    name: o.metadata.name,
    peerAddress: typeof spec?.peerAddress === 'string' ? spec.peerAddress : '',
    apiAddress: typeof spec?.apiAddress === 'string' ? spec.apiAddress : '',
    resourceVersion: o.metadata.resourceVersion,
  };
}

/** readMember returns a member's record from local state, or undefined. */
export function readMember(store: ObjectStore, name: string): (MemberRecord & { resourceVersion: string }) | undefined {
  return fromObject(store.get({ kind: memberKind, name }));
}

/** apiAddressOf returns a member's API address from local state, '' when unknown. */
export function apiAddressOf(store: ObjectStore, name: string): string {
  return readMember(store, name)?.apiAddress ?? '';
}
