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
 * asks the leader to write it (ClusterService.AddMember with its own, unchanged addresses);
 * see housekeeping.ts. Reads are of local state; writes are the leader's only.
 */
import type { Logger } from 'pino';
import { apiClusterScopedKinds } from '@tugboat/apiserver';
import type { MemberRecord } from '@tugboat/apiserver';
import { isStoreError } from '@tugboat/store';
import type { ObjectStore, Op, StoredObject } from '@tugboat/store';

/** memberKind is the internal kind of the member directory. */
export const memberKind = 'ControlPlaneMember';

/** clusterScopedKinds are the store's cluster-scoped kinds: the API's and the directory's. Same on every member. */
export const clusterScopedKinds: readonly string[] = [...apiClusterScopedKinds, memberKind];

/** StoredRecord is a record as stored, with the resourceVersion that guards its update. */
type StoredRecord = MemberRecord & { readonly resourceVersion: string };

/** MemberAddresses is the directory as a reader of addresses needs it. */
export interface MemberAddresses {
  /** apiAddressOf returns a member's API address from local state, '' when unknown. */
  apiAddressOf(name: string): string;
}

export interface MemberDirectoryOptions {
  readonly store: Pick<ObjectStore, 'get' | 'list'>;
  /** write proposes the directory's own writes (RaftWrites.writeInternal); throws StoreError. */
  readonly write: (ops: readonly Op[]) => Promise<void>;
  readonly log: Logger;
}

/** recordWriteAttempts bounds the retries of a record write that raced another one. */
const recordWriteAttempts = 3;

export class MemberDirectory implements MemberAddresses {
  private readonly opts: MemberDirectoryOptions;

  constructor(opts: MemberDirectoryOptions) {
    this.opts = opts;
  }

  apiAddressOf(name: string): string {
    return this.read(name)?.apiAddress ?? '';
  }

  /** holds tells whether the directory has `r` exactly (local state). */
  holds(r: MemberRecord): boolean {
    return same(this.read(r.name), r);
  }

  /** names are the members that have a record (local state). */
  names(): string[] {
    return this.opts.store.list({ kind: memberKind }).items.map((o) => o.metadata.name);
  }

  /** record writes a member's record through Raft (leader only), unless it is as given already. */
  async record(r: MemberRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const cur = this.read(r.name);
      if (same(cur, r)) return;
      const op: Op =
        cur === undefined
          ? { op: 'create', object: memberObject(r) }
          : { op: 'update', object: memberObject(r), expectedResourceVersion: cur.resourceVersion };
      try {
        await this.opts.write([op]);
        this.opts.log.info({ member: r.name, api: r.apiAddress, peer: r.peerAddress }, 'member directory: record written');
        return;
      } catch (err) {
        // Another write of the record got there first: look again.
        if (attempt >= recordWriteAttempts || !(isStoreError(err, 'AlreadyExists') || isStoreError(err, 'Conflict'))) throw err;
      }
    }
  }

  /** forget removes a member's record (leader only); a missing one is fine. */
  async forget(name: string): Promise<void> {
    const cur = this.read(name);
    if (cur === undefined) return;
    try {
      await this.opts.write([{ op: 'delete', ref: { kind: memberKind, name }, expectedResourceVersion: cur.resourceVersion }]);
      this.opts.log.info({ member: name }, 'member directory: record removed');
    } catch (err) {
      if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
    }
  }

  /** read returns a member's record from local state, or undefined. */
  private read(name: string): StoredRecord | undefined {
    return fromObject(this.opts.store.get({ kind: memberKind, name }));
  }
}

/** same tells whether a stored record has the addresses of `r`. */
function same(cur: StoredRecord | undefined, r: MemberRecord): boolean {
  return cur !== undefined && cur.apiAddress === r.apiAddress && cur.peerAddress === r.peerAddress;
}

/** memberObject is the store object for a record. */
function memberObject(r: MemberRecord): { apiVersion: string; kind: string; metadata: { name: string }; spec: { peerAddress: string; apiAddress: string } } {
  return { apiVersion: 'tugboat.internal/v1', kind: memberKind, metadata: { name: r.name }, spec: { peerAddress: r.peerAddress, apiAddress: r.apiAddress } };
}

function fromObject(o: StoredObject | undefined): StoredRecord | undefined {
  if (o === undefined) return undefined;
  const spec = o.spec as { peerAddress?: unknown; apiAddress?: unknown } | undefined;
  return {
    name: o.metadata.name,
    peerAddress: typeof spec?.peerAddress === 'string' ? spec.peerAddress : '',
    apiAddress: typeof spec?.apiAddress === 'string' ? spec.apiAddress : '',
    resourceVersion: o.metadata.resourceVersion,
  };
}
