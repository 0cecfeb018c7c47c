/**
 * Helpers for this package's tests: objects as a proposer would fill them, and a feeder that
 * applies commands to an ObjectStore at consecutive indexes, as the Raft driver would.
 */
import { encodeCommand, unwrapApplyResult } from '@tugboat/store';
import type { ApplyResult, Command, KubeObject, ObjectStore, Op, StoredObject, TxnResult } from '@tugboat/store';

let uidSeq = 0;

/** filled returns `o` with uid and creationTimestamp set (as ReplicatedStore.prepare does). */
export function filled(o: KubeObject & { readonly [key: string]: unknown }): KubeObject {
  uidSeq++;
  return {
    ...o,
    metadata: { ...o.metadata, uid: `uid-${String(uidSeq).padStart(6, '0')}`, creationTimestamp: '2025-01-01T00:00:00Z' },
  };
}

export function namespace(name: string): KubeObject {
  return filled({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export function node(name: string): KubeObject {
  return filled({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, status: { ready: true } });
}

/** pod returns a filled Pod; `padBytes` adds an annotation of that many characters. */
export function pod(name: string, ns = 'default', opts: { image?: string; labels?: Record<string, string>; padBytes?: number } = {}): KubeObject {
  return filled({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      labels: opts.labels ?? { app: 'web' },
      ...(opts.padBytes !== undefined ? { annotations: { pad: 'x'.repeat(opts.padBytes) } } : {}),
    },
    spec: { containers: [{ name: 'web', image: opts.image ?? 'web:1', ports: [{ containerPort: 8080 }] }] },
    status: { phase: 'Pending' },
  });
}

/** Feeder applies commands at consecutive indexes, from `start` + 1. */
export class Feeder {
  readonly store: ObjectStore;
  index: number;
  constructor(store: ObjectStore, start = store.revision) {
    this.store = store;
    this.index = start;
  }

  /** raw applies a command and returns the ApplyResult. */
  raw(cmd: Command): ApplyResult {
    return this.store.apply({ index: ++this.index, term: 1, data: encodeCommand(cmd) });
  }

  /** txn applies ops; throws the StoreError if they failed. */
  txn(ops: readonly Op[], requestId?: string): TxnResult {
    return unwrapApplyResult(this.raw(requestId === undefined ? { ops } : { requestId, ops }));
  }

  create(o: KubeObject): StoredObject {
    return this.txn([{ op: 'create', object: o }]).objects[0]!;
  }

  update(o: KubeObject, expectedResourceVersion?: string): StoredObject {
    return this.txn([{ op: 'update', object: o, ...(expectedResourceVersion !== undefined ? { expectedResourceVersion } : {}) }]).objects[0]!;
  }

  delete(kind: string, ns: string, name: string, expectedResourceVersion?: string): StoredObject {
    const ref = ns === '' ? { kind, name } : { kind, namespace: ns, name };
    return this.txn([{ op: 'delete', ref, ...(expectedResourceVersion !== undefined ? { expectedResourceVersion } : {}) }]).objects[0]!;
  }

  /** noop applies an entry with empty data (a leader's no-op). */
  noop(): void {
    this.store.apply({ index: ++this.index, term: 1, data: new Uint8Array(0) });
  }
}
