// garbage.ts: the garbage collector's rule, without I/O. An object is garbage when it lists
// owners and none of them is there any more (no object of that kind and name with that uid).
// An object without owner references (never owned, or orphaned on purpose) is never garbage.
import type { ObjectMeta, OwnerReference } from '@tugboat/api';

/** OwnerLookup says whether the owner a reference names is there ('unknown': it cannot tell). */
export type OwnerLookup = (ref: OwnerReference, namespace: string) => 'present' | 'absent' | 'unknown';

/**
 * ownersToVerify decides for an object with `meta`: undefined when it is not garbage as far as
 * `lookup` knows (no owners, being deleted already, or an owner present or unknown); else the
 * references whose owners `lookup` found absent, to be confirmed before deleting the object.
 */
export function ownersToVerify(meta: ObjectMeta, lookup: OwnerLookup): OwnerReference[] | undefined {
  const refs = meta.ownerReferences ?? [];
  if (refs.length === 0 || meta.deletionTimestamp !== undefined) return undefined;
  const ns = meta.namespace ?? '';
  return refs.every((r) => lookup(r, ns) === 'absent') ? [...refs] : undefined;
}

/** ownerRefText names an owner in messages: "ReplicaSet web-5d8f". */
export function ownerRefText(refs: readonly OwnerReference[]): string {
  return refs.map((r) => `${r.kind} ${r.name}`).join(', ');
}
