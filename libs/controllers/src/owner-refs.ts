// owner-refs.ts: controller owner references (a ReplicaSet's pods, a Deployment's ReplicaSets)
// and the claim rule both workload controllers follow: a controller owns the objects whose
// controller reference carries its uid, adopts matching objects that have no controller, and
// releases owned objects that stopped matching its selector.
import { matches } from '@tugboat/api';
import type { LabelSelector, ObjectMeta, OwnerReference } from '@tugboat/api';

/** Owner is the part of an owning object that references to it are made from. */
export interface Owner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Pick<ObjectMeta, 'name' | 'uid'>;
}

/** controllerRefOf returns the owner reference of meta that is its controller, if any. */
export function controllerRefOf(meta: Pick<ObjectMeta, 'ownerReferences'>): OwnerReference | undefined {
  return meta.ownerReferences?.find((r) => r.controller === true);
}

/** controllerRefTo is the reference a controller puts on what it makes or adopts. */
export function controllerRefTo(owner: Owner): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * Claim says what a controller does with one object of its namespace:
 * - own: it is controlled by this owner and matches the selector;
 * - adopt: it has no controller and matches (the owner is not being deleted);
 * - release: it is controlled by this owner but no longer matches;
 * - ignore: it belongs to another controller, or matches nothing of ours.
 */
export type Claim = 'own' | 'adopt' | 'release' | 'ignore';

/** claimOf decides the Claim of an object with `meta` by `owner` selecting with `selector`. */
export function claimOf(owner: Owner & { metadata: Pick<ObjectMeta, 'deletionTimestamp'> }, selector: LabelSelector, meta: ObjectMeta): Claim {
  const ref = controllerRefOf(meta);
  const matching = matches(selector, meta.labels);
  if (ref !== undefined) {
    if (ref.uid !== owner.metadata.uid) return 'ignore';
    return matching ? 'own' : 'release';
  }
  if (!matching || owner.metadata.deletionTimestamp !== undefined || meta.deletionTimestamp !== undefined) return 'ignore';
  return 'adopt';
}

/** withOwner returns meta with the controller reference to owner added (a copy). */
export function withOwner(meta: ObjectMeta, owner: Owner): ObjectMeta {
  return { ...meta, ownerReferences: [...(meta.ownerReferences ?? []), controllerRefTo(owner)] };
}

/** withoutOwner returns meta without the references to owner's uid (a copy). */
export function withoutOwner(meta: ObjectMeta, ownerUid: string): ObjectMeta {
  const rest = (meta.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
  const out: ObjectMeta = { ...meta };
  if (rest.length > 0) out.ownerReferences = rest;
  else delete out.ownerReferences;
  return out;
}
