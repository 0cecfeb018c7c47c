/**
 * ObjectService (proto/tug/v1/api.proto) as every tug-control member serves it.
 *
 * - Writes: the leader admits them (libs/api validation naming every field, defaulting,
 *   `validateUpdate` against the stored object, generateName; for a Delete, graceful deletion
 *   of bound pods and the delete options, deletion.ts) and proposes one store command
 *   carrying the request id; any other member forwards the request unchanged to the leader's
 *   API (one hop). A request id applied before answers the first outcome; its object is empty
 *   when the object changed since.
 * - Service writes (also inside a txn) take and release their ClusterIP and nodePorts in the
 *   same entry (service-allocation.ts). They run one at a time on the leader, each after a
 *   ReadIndex, so each is planned against every earlier write.
 * - Reads: linearizable (ReadIndex, then the local store) unless `stale_ok`.
 * - Watches: from the local store's history, in revision order (the same order on every
 *   member). With selectors, an object that starts matching comes as ADDED and one that stops
 *   matching as DELETED (with its last matching state and the change's revision). BOOKMARKs
 *   carry the revision reached when `progress_notify` and idle.
 * - Only the kinds of libs/api are served: the control plane's internal kinds are refused.
 * - Secrets at rest (secret-encryption.ts): with `secretKeys`, every op's Secret is sealed just
 *   before it is proposed, and every Secret leaving the store (get, list, watch events, the
 *   answer to a write, the stored version an update is admitted against) is opened. One that
 *   does not open here (a key this member lacks) fails the call with FAILED_PRECONDITION
 *   naming the Secret, the key and the member; only a delete's answer and a DELETED event,
 *   whose values no one needs, carry it without its values instead.
 */
import { randomBytes } from 'node:crypto';
import {
  DEFAULT_NAMESPACE,
  KINDS,
  PROTECTED_NAMESPACES,
  applyDefaults,
  findKind,
  isKind,
  isSelectorError,
  kindInfo,
  matches,
  matchesFields,
  parseFieldSelector,
  parseSelector,
  validate,
  validateUpdate,
  validationError,
} from '@tugboat/api';
import type { ApiObject, FieldSelector, Kind, LabelSelector, Pod, Service } from '@tugboat/api';
import { GrpcError, ObjectService, Status } from '@tugboat/proto';
import type { CallContext, ObjectRef as ProtoRef, ServiceImpl, WatchResponseSchema } from '@tugboat/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { EncryptionKey } from '@tugboat/pki';
import { isExpiredError, isStoreError, maxCommandBytes, maxRequestIdLength, maxTxnOps } from '@tugboat/store';
import type { CreateOp, DeleteOp, KubeObject, ObjectRef, Op, StoredObject, UpdateOp, WatchEvent } from '@tugboat/store';
import { allow, allowNodeSelfWrite, isRestricted } from './authorization.ts';
import type { AccessRequest, AccessVerb, AccessView } from './authorization.ts';
import { TOKEN_KIND } from './bootstrap-tokens.ts';
import { deleteOp } from './deletion.ts';
import { describeRef } from './errors.ts';
import type { WriteVerb } from './errors.ts';
import { isSecretSealError, openSecret, sealSecret, withoutSealedValues } from './secret-encryption.ts';
import { ALLOCATION_KIND, heldBy, isAllocationError, planServiceWrite, releaseOps, withoutKeptNodePorts } from './service-allocation.ts';
import type { AllocationView } from './service-allocation.ts';

/** ObjectBackend is what ObjectService needs from a control member. */
export interface ObjectBackend {
  readonly name: string;
  /** get reads the local store (as of the last applied entry). */
  get(ref: ObjectRef): StoredObject | undefined;
  list(kind: string, namespace: string | undefined): { items: readonly StoredObject[]; revision: number };
  readonly revision: number;
  /** isLeader tells whether this member leads now (writes are proposed here, else forwarded). */
  isLeader(): boolean;
  /** propose proposes one command on the leader and resolves with the ops' objects (null: empty answer). */
  propose(ops: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]>;
  /** readIndex waits until the local store reflects every write acknowledged before the call. */
  readIndex(ctx: CallContext): Promise<void>;
  /** forward runs a write on the leader's ObjectService (one hop). */
  forward<M extends 'create' | 'update' | 'delete' | 'txn'>(method: M, req: unknown, ctx: CallContext): Promise<unknown>;
  /** watch opens a watch on the local store. Throws ExpiredError. */
  watch(opts: { fromRevision: number; kind: string; namespace?: string; signal: AbortSignal }): AsyncIterator<WatchEvent> & { readonly progressRevision: number };
  /** watchStarted registers an open watch of the caller: the returned signal aborts when the
   *  member shuts down. RESOURCE_EXHAUSTED beyond the member's or the caller's bound. */
  watchStarted(ctx: CallContext): { signal: AbortSignal; done: () => void };
  /** namespaceSize counts the objects of a namespace that its bound counts (Events are not). */
  namespaceSize(namespace: string): number;
  /** maxObjectsPerNamespace bounds namespaceSize: creates beyond are refused. */
  readonly maxObjectsPerNamespace: number;
  /** bookmarkIntervalMs: idle time after which a progress_notify watch gets a BOOKMARK. */
  readonly bookmarkIntervalMs: number;
  /** secretKeys seal Secrets at rest: the first seals, every one opens. None or empty: Secrets are stored in clear. */
  readonly secretKeys?: readonly EncryptionKey[];
}

/** apiClusterScopedKinds are the store kinds the API keeps without a namespace: libs/api's, the
 *  service allocations and the bootstrap tokens. */
export const apiClusterScopedKinds: readonly string[] = ['Namespace', 'Node', ALLOCATION_KIND, TOKEN_KIND];

/** maxObjectBytes is the largest object accepted in one request (the rest of a store command is small). */
export const maxObjectBytes = maxCommandBytes - 16 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encoded JSON of stored objects, computed once per object (objects are frozen and shared). */
const encoded = new WeakMap<StoredObject, Uint8Array>();

/** encodeObject is an object's JSON as bytes (empty for null). */
export function encodeObject(o: StoredObject | null | undefined): Uint8Array {
  if (o === null || o === undefined) return new Uint8Array(0);
  let b = encoded.get(o);
  if (b === undefined) {
    b = encoder.encode(JSON.stringify(o));
    encoded.set(o, b);
  }
  return b;
}

function invalid(message: string): GrpcError {
  return new GrpcError(Status.INVALID_ARGUMENT, message);
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** parseObject decodes a request's object bytes; `field` names the request field in messages. */
function parseObject(bytes: Uint8Array, field: string): Json {
  if (bytes.length === 0) throw invalid(`${field}: required`);
  if (bytes.length > maxObjectBytes) {
    throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${field}: the object is ${bytes.length} bytes, more than the limit of ${maxObjectBytes}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw invalid(`${field}: not a JSON object: ${(err as Error).message}`);
  }
  if (!isPlainObject(v)) throw invalid(`${field}: must be a JSON object`);
  return v;
}

function checkRequestId(id: string): void {
  if (id.length > maxRequestIdLength) throw invalid(`request_id: at most ${maxRequestIdLength} characters, got ${id.length}`);
}

/** servedKind resolves a kind name as given in a request; INVALID_ARGUMENT for unknown or internal kinds. */
function servedKind(kind: string, field: string): Kind {
  if (kind === '') throw invalid(`${field}: required`);
  if (isKind(kind)) return kind;
  const k = findKind(kind);
  if (k !== undefined) return k.kind;
  throw invalid(`${field}: unknown kind "${kind}"; known kinds: ${KINDS.map((k) => k.kind).join(', ')}`);
}

/** refOf normalizes a request's ref: the namespace of a cluster-scoped kind is dropped, a namespaced one defaults to "default". */
function refOf(ref: ProtoRef | undefined, field = 'ref'): { kind: Kind; namespace: string; name: string } {
  if (ref === undefined) throw invalid(`${field}: required`);
  const kind = servedKind(ref.kind, `${field}.kind`);
  if (ref.name === '') throw invalid(`${field}.name: required`);
  const namespace = kindInfo(kind).namespaced ? ref.namespace || DEFAULT_NAMESPACE : '';
  return { kind, namespace, name: ref.name };
}

function storeRef(r: { kind: string; namespace: string; name: string }): ObjectRef {
  return r.namespace === '' ? { kind: r.kind, name: r.name } : r;
}

/** accessView reads what authorization needs of the member's store. */
function accessView(b: ObjectBackend): AccessView {
  return {
    pod: (namespace, name) => b.get({ kind: 'Pod', namespace, name }) as Pod | undefined,
    podsOn: (node, namespace) => (b.list('Pod', namespace).items as readonly Pod[]).filter((p) => p.spec.nodeName === node),
  };
}

/** objectAccess is the request an object of a write names. */
function objectAccess(verb: AccessVerb, raw: unknown): AccessRequest {
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as { kind?: unknown; metadata?: { namespace?: unknown; name?: unknown } };
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  const kind = text(o.kind);
  const namespaced = findKind(kind)?.namespaced ?? true;
  return { verb, kind, namespace: namespaced ? text(o.metadata?.namespace) || DEFAULT_NAMESPACE : '', name: text(o.metadata?.name) };
}

/** check throws INVALID_ARGUMENT listing every issue, as `Kind/name: path: message; ...`. */
function check(obj: unknown, issues: ReturnType<typeof validate>): void {
  if (issues.length > 0) throw invalid(validationError(obj, issues).message);
}

/** generatedSuffix is 5 characters as Kubernetes uses for generateName (no vowels, no look-alikes). */
function generatedSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = randomBytes(5);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** admitCreate validates and defaults an object to create; fills the name from generateName. */
function admitCreate(raw: Json): KubeObject {
  check(raw, validate(raw));
  const o = applyDefaults(raw) as Json & { metadata: Json };
  const meta = o.metadata;
  if (!meta['name'] && typeof meta['generateName'] === 'string') meta['name'] = `${meta['generateName']}${generatedSuffix()}`;
  return o as unknown as KubeObject;
}

/** admitUpdate validates and defaults a replacement for `cur` (undefined: not stored; the store answers NotFound). */
function admitUpdate(request: Json, cur: StoredObject | undefined, statusOnly: boolean): { object: KubeObject; expected: string | undefined } {
  const raw = cur?.kind === 'Service' && !statusOnly ? withoutKeptNodePorts(request, cur as unknown as Service) : request;
  check(raw, validate(raw));
  const o = applyDefaults(raw) as Json & { metadata: Json };
  if (cur !== undefined && !statusOnly) {
    check(raw, validateUpdate(cur as unknown as ApiObject, o));
    // As in Kubernetes, a replace that says nothing about status keeps the stored status.
    if (o['status'] === undefined && cur.status !== undefined) o['status'] = cur.status;
  }
  const rv = o.metadata['resourceVersion'];
  return { object: o as unknown as KubeObject, expected: typeof rv === 'string' && rv !== '' ? rv : undefined };
}

/** storedVersionOf is the stored object a replacement `raw` names, if its kind and name can be read. */
function storedVersionOf(b: ObjectBackend, raw: Json): StoredObject | undefined {
  const kind = typeof raw['kind'] === 'string' && isKind(raw['kind']) ? raw['kind'] : undefined;
  const meta = isPlainObject(raw['metadata']) ? raw['metadata'] : {};
  if (kind === undefined || typeof meta['name'] !== 'string') return undefined;
  return b.get(storeRef({ kind, namespace: kindInfo(kind).namespaced ? String(meta['namespace'] || DEFAULT_NAMESPACE) : '', name: meta['name'] }));
}

/** Selection is a parsed label + field selector; `undefined` when both are empty. */
interface Selection {
  readonly labels: LabelSelector;
  readonly fields: FieldSelector;
}

function parseSelection(labelSelector: string, fieldSelector: string): Selection | undefined {
  if (labelSelector.trim() === '' && fieldSelector.trim() === '') return undefined;
  try {
    return { labels: parseSelector(labelSelector), fields: parseFieldSelector(fieldSelector) };
  } catch (err) {
    if (isSelectorError(err)) throw invalid(err.message);
    throw err;
  }
}

function selected(sel: Selection, o: StoredObject): boolean {
  return matches(sel.labels, o.metadata.labels) && matchesFields(sel.fields, o);
}

type WatchOut = MessageInitShape<typeof WatchResponseSchema>;

/**
 * filterEvent turns a store event into what a watch with selection `sel` delivers: the event,
 * an ADDED for an object that starts matching, a DELETED (last matching state, this revision)
 * for one that stops matching, or nothing.
 */
export function filterEvent(sel: Selection | undefined, ev: WatchEvent): { type: string; object: StoredObject } | undefined {
  if (sel === undefined) return ev;
  const now = selected(sel, ev.object);
  if (ev.type !== 'MODIFIED') return now ? ev : undefined;
  const before = ev.prevObject === undefined ? now : selected(sel, ev.prevObject);
  if (now && before) return ev;
  if (now) return { type: 'ADDED', object: ev.object };
  if (before) {
    const prev = ev.prevObject!;
    return { type: 'DELETED', object: { ...prev, metadata: { ...prev.metadata, resourceVersion: String(ev.revision) } } };
  }
  return undefined;
}

/** NOT_COUNTED: kinds a namespace's bound leaves out (Events come and go with what they tell). */
export const NOT_COUNTED: ReadonlySet<string> = new Set(['Event']);

/** checkNamespaceBound refuses creates that would take a namespace past its bound of objects
 *  (checked against the leader's state when they are admitted: writes admitted together may
 *  pass it by their number, no more). */
function checkNamespaceBound(b: ObjectBackend, ops: readonly Op[]): void {
  const creates = new Map<string, number>();
  for (const op of ops) {
    if (op.op !== 'create' || NOT_COUNTED.has(op.object.kind) || op.object.metadata.namespace === undefined) continue;
    creates.set(op.object.metadata.namespace, (creates.get(op.object.metadata.namespace) ?? 0) + 1);
  }
  for (const [namespace, n] of creates) {
    const held = b.namespaceSize(namespace);
    if (held + n > b.maxObjectsPerNamespace) {
      throw new GrpcError(Status.RESOURCE_EXHAUSTED, `namespace "${namespace}" holds ${held} objects (Events not counted), the most it may hold is ${b.maxObjectsPerNamespace}; delete some first`);
    }
  }
}

/** isServiceWrite tells whether an op writes a Service's spec (status-only updates take nothing). */
function isServiceWrite(op: Op): op is CreateOp | UpdateOp | DeleteOp {
  if (op.op === 'delete') return op.ref.kind === 'Service';
  if (op.op === 'create') return op.object.kind === 'Service';
  return op.op === 'update' && op.object.kind === 'Service' && op.subresource !== 'status';
}

/**
 * withAllocations returns `ops` with each Service op's addresses filled in, followed by the
 * ops that take and release them. Throws INVALID_ARGUMENT naming the field when a requested
 * address cannot be had.
 */
function withAllocations(b: ObjectBackend, ops: readonly Op[], view: AllocationView): Op[] {
  const extra: Op[] = [];
  const out = ops.map((op, i): Op => {
    if (!isServiceWrite(op)) return op;
    try {
      if (op.op === 'delete') {
        extra.push(...releaseOps(heldBy(b.get(op.ref) as Service | undefined), view));
        return op;
      }
      const cur = op.op === 'update' ? (b.get(storeRef({ kind: 'Service', namespace: op.object.metadata.namespace ?? DEFAULT_NAMESPACE, name: op.object.metadata.name ?? '' })) as Service | undefined) : undefined;
      const plan = planServiceWrite(op.object as unknown as Service, cur, view);
      extra.push(...plan.ops);
      return { ...op, object: plan.service as unknown as KubeObject };
    } catch (err) {
      if (!isAllocationError(err)) throw err;
      const where = ops.length > 1 ? `ops[${i}]: ` : '';
      throw invalid(`${where}Service "${opName(op)}" is invalid: ${err.message}`);
    }
  });
  return [...out, ...extra];
}

function opName(op: Op): string {
  return op.op === 'delete' || op.op === 'check' ? op.ref.name : (op.object.metadata.name ?? '');
}

/**
 * allocationRace is the error for an allocation taken by a write this leader did not plan
 * against (it cannot happen while Service writes are serialized after a ReadIndex; a safety net).
 */
function allocationRace(err: unknown): unknown {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (!isStoreError(cause, 'AlreadyExists') || cause.details.ref?.kind !== ALLOCATION_KIND) return err;
  return new GrpcError(Status.ABORTED, `${cause.details.ref.name.replace('-', ' ')} was allocated by another write at the same moment; retry`);
}

/** SecretsAtRest seals the Secrets of a member's writes and opens those it hands out (see the module comment). */
interface SecretsAtRest {
  /** seal returns the ops with each Secret written sealed (an update's against the stored version). */
  seal(ops: readonly Op[]): readonly Op[];
  /** open is a stored object as admission and clients see it. Throws FAILED_PRECONDITION. */
  open<T extends StoredObject | undefined>(o: T): T;
  /** encode is encodeObject of the opened object; `leaving` (a deletion): one that does not open goes without its values. */
  encode(o: StoredObject | null | undefined, leaving?: boolean): Uint8Array;
}

function secretsAtRest(b: ObjectBackend): SecretsAtRest {
  // Read on every call: a test may change them between calls; a member's never change.
  const keys = (): readonly EncryptionKey[] => b.secretKeys ?? [];
  const stored = (o: KubeObject): StoredObject | undefined =>
    b.get(storeRef({ kind: o.kind, namespace: o.metadata.namespace ?? DEFAULT_NAMESPACE, name: o.metadata.name ?? '' }));
  const open = <T extends StoredObject | undefined>(o: T): T => {
    if (o === undefined) return o;
    try {
      return openSecret(o, keys());
    } catch (err) {
      if (!isSecretSealError(err)) throw err;
      throw new GrpcError(
        Status.FAILED_PRECONDITION,
        `${describeRef('Secret', err.namespace, err.secretName)} cannot be read on member ${b.name}: ${err.detail}` +
          (err.problem === 'unknown key' ? `; add key "${err.keyName}" to its --encryption-key-file (docs/security.md, Secrets at rest)` : ''),
      );
    }
  };
  return {
    seal: (ops) =>
      ops.map((op): Op => {
        if ((op.op !== 'create' && op.op !== 'update') || op.object.kind !== 'Secret') return op;
        return { ...op, object: sealSecret(op.object, keys(), op.op === 'update' ? stored(op.object) : undefined) };
      }),
    open,
    encode(o, leaving = false) {
      if (o === null || o === undefined) return encodeObject(o);
      let out: StoredObject;
      try {
        out = open(o);
      } catch (err) {
        if (!leaving) throw err;
        out = withoutSealedValues(o);
      }
      // A Secret opened is a new object each time: its values are not cached.
      return out === o ? encodeObject(o) : encoder.encode(JSON.stringify(out));
    },
  };
}

export function objectService(b: ObjectBackend): ServiceImpl<typeof ObjectService> {
  const access = accessView(b);
  const secrets = secretsAtRest(b);
  const view: AllocationView = { allocation: (name) => b.get({ kind: ALLOCATION_KIND, name }), random: Math.random };
  let serviceWrites: Promise<unknown> = Promise.resolve();
  /** propose proposes ops; with Service writes among them, one such write at a time, allocated against the latest state. */
  const propose = async (request: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> => {
    checkNamespaceBound(b, request);
    const ops = secrets.seal(request);
    if (!ops.some(isServiceWrite)) return b.propose(ops, requestId, ctx, verb);
    const run = serviceWrites.then(async () => {
      await b.readIndex(ctx);
      const all = withAllocations(b, ops, view);
      try {
        return (await b.propose(all, requestId, ctx, verb)).slice(0, ops.length);
      } catch (err) {
        throw allocationRace(err);
      }
    });
    serviceWrites = run.catch(() => undefined);
    return run;
  };
  /** allowFresh is allow for a caller whose access depends on what is stored (a node's: the pods
   *  bound to it), decided on state at least as new as the leader's when the call came, so a
   *  binding the caller has seen counts on every member. */
  const allowFresh = async (ctx: CallContext, request: () => AccessRequest): Promise<void> => {
    if (!isRestricted(ctx.identity)) return;
    await b.readIndex(ctx);
    allow(ctx, request, access);
  };
  /** allowFreshWrite is allowFresh for a create or update of the object in `bytes`, read once;
   *  a node's write of its own Node is also held to what it may change of it. */
  const allowFreshWrite = async (ctx: CallContext, verb: AccessVerb, bytes: Uint8Array): Promise<void> => {
    if (!isRestricted(ctx.identity)) return;
    const object = parseObject(bytes, 'object');
    const req = objectAccess(verb, object);
    await allowFresh(ctx, () => req);
    // A create is judged alone: if the Node exists, the store refuses it (AlreadyExists).
    if (req.kind === 'Node') allowNodeSelfWrite(ctx, req, object as never, verb === 'create' ? undefined : (b.get({ kind: 'Node', name: req.name }) as never));
  };
  return {
    async create(req, ctx) {
      checkRequestId(req.requestId);
      await allowFreshWrite(ctx, 'create', req.object);
      if (!b.isLeader()) return (await b.forward('create', req, ctx)) as never;
      const obj = admitCreate(parseObject(req.object, 'object'));
      const [o] = await propose([{ op: 'create', object: obj }], req.requestId, ctx, 'create');
      return { object: secrets.encode(o) };
    },

    async update(req, ctx) {
      checkRequestId(req.requestId);
      await allowFreshWrite(ctx, req.statusOnly ? 'update status' : 'update', req.object);
      if (!b.isLeader()) return (await b.forward('update', req, ctx)) as never;
      const raw = parseObject(req.object, 'object');
      const { object, expected } = admitUpdate(raw, secrets.open(storedVersionOf(b, raw)), req.statusOnly);
      const op: Op = {
        op: 'update',
        object,
        ...(expected === undefined ? {} : { expectedResourceVersion: expected }),
        ...(req.statusOnly ? { subresource: 'status' as const } : {}),
      };
      const [o] = await propose([op], req.requestId, ctx, 'update');
      return { object: secrets.encode(o) };
    },

    async delete(req, ctx) {
      checkRequestId(req.requestId);
      await allowFresh(ctx, () => ({ verb: 'delete', ...refOf(req.ref) }));
      if (!b.isLeader()) return (await b.forward('delete', req, ctx)) as never;
      const ref = refOf(req.ref);
      if (ref.kind === 'Namespace' && PROTECTED_NAMESPACES.includes(ref.name)) {
        throw new GrpcError(Status.FAILED_PRECONDITION, `namespaces "${ref.name}" is protected and cannot be deleted`);
      }
      // Decided here on the leader against the stored object: mark (graceful) or remove.
      const sref = storeRef(ref);
      const [o] = await propose([deleteOp(sref, b.get(sref), req, Date.now())], req.requestId, ctx, 'delete');
      return { object: secrets.encode(o, true) };
    },

    async txn(req, ctx) {
      checkRequestId(req.requestId);
      allow(ctx, () => ({ verb: 'txn', kind: '', namespace: '', name: '' }), access);
      if (!b.isLeader()) return (await b.forward('txn', req, ctx)) as never;
      if (req.ops.length === 0) throw invalid('ops: at least one op is required');
      if (req.ops.length > maxTxnOps) throw invalid(`ops: at most ${maxTxnOps} ops, got ${req.ops.length}`);
      let total = 0;
      const ops: Op[] = req.ops.map((op, i): Op => {
        const expected = op.expectedResourceVersion === '' ? {} : { expectedResourceVersion: op.expectedResourceVersion };
        try {
          switch (op.op.case) {
            case 'create': {
              total += op.op.value.length;
              if (op.expectedResourceVersion !== '') throw invalid('expected_resource_version: not allowed on a create');
              return { op: 'create', object: admitCreate(parseObject(op.op.value, 'create')) };
            }
            case 'update': {
              total += op.op.value.length;
              const raw = parseObject(op.op.value, 'update');
              const { object, expected: rv } = admitUpdate(raw, secrets.open(storedVersionOf(b, raw)), false);
              const exp = op.expectedResourceVersion !== '' ? op.expectedResourceVersion : rv;
              return { op: 'update', object, ...(exp === undefined ? {} : { expectedResourceVersion: exp }) };
            }
            case 'delete': {
              const ref = refOf(op.op.value, 'delete');
              if (ref.kind === 'Namespace' && PROTECTED_NAMESPACES.includes(ref.name)) {
                throw new GrpcError(Status.FAILED_PRECONDITION, `namespaces "${ref.name}" is protected and cannot be deleted`);
              }
              return { op: 'delete', ref: storeRef(ref), ...expected };
            }
            default:
              throw invalid('an op needs one of create, update or delete');
          }
        } catch (e) {
          if (e instanceof GrpcError) throw new GrpcError(e.code, `ops[${i}]: ${e.message}`);
          throw e;
        }
      });
      if (total > maxObjectBytes) throw new GrpcError(Status.RESOURCE_EXHAUSTED, `ops: ${total} bytes of objects, more than the limit of ${maxObjectBytes}`);
      const objects = await propose(ops, req.requestId, ctx, 'txn');
      return { objects: objects.map((o, i) => secrets.encode(o, ops[i]!.op === 'delete')) };
    },

    async get(req, ctx) {
      const ref = refOf(req.ref);
      if (!req.staleOk) await b.readIndex(ctx);
      allow(ctx, () => ({ verb: 'get', ...ref }), access);
      const o = b.get(storeRef(ref));
      if (o === undefined) throw new GrpcError(Status.NOT_FOUND, `${describeRef(ref.kind, ref.namespace, ref.name)} not found`);
      return { object: secrets.encode(o) };
    },

    async list(req, ctx) {
      const kind = servedKind(req.kind, 'kind');
      const sel = parseSelection(req.labelSelector, req.fieldSelector);
      const namespace = kindInfo(kind).namespaced && req.namespace !== '' ? req.namespace : undefined;
      allow(ctx, () => ({ verb: 'list', kind, namespace: namespace ?? '', name: '', fieldSelector: req.fieldSelector }), access);
      if (!req.staleOk) await b.readIndex(ctx);
      const { items, revision } = b.list(kind, namespace);
      const chosen = sel === undefined ? items : items.filter((o) => selected(sel, o));
      return { items: chosen.map((o) => secrets.encode(o)), revision: BigInt(revision) };
    },

    async *watch(req, ctx) {
      const kind = servedKind(req.kind, 'kind');
      const sel = parseSelection(req.labelSelector, req.fieldSelector);
      const namespace = kindInfo(kind).namespaced && req.namespace !== '' ? req.namespace : undefined;
      allow(ctx, () => ({ verb: 'watch', kind, namespace: namespace ?? '', name: '', fieldSelector: req.fieldSelector }), access);
      const from = req.fromRevision === 0n ? b.revision : Number(req.fromRevision);
      if (!Number.isSafeInteger(from)) throw invalid(`from_revision: ${req.fromRevision} is out of range`);
      const life = b.watchStarted(ctx);
      const stop = AbortSignal.any([ctx.signal, life.signal]);
      let w: ReturnType<ObjectBackend['watch']>;
      try {
        w = b.watch({ fromRevision: from, kind, ...(namespace === undefined ? {} : { namespace }), signal: stop });
      } catch (err) {
        life.done();
        if (isExpiredError(err)) throw new GrpcError(Status.OUT_OF_RANGE, `from_revision ${from}: ${err.message}`);
        throw err;
      }
      const idle = Symbol('idle');
      let timer: NodeJS.Timeout | undefined;
      let pending: Promise<IteratorResult<WatchEvent>> | undefined;
      try {
        for (;;) {
          pending ??= w.next();
          let r: IteratorResult<WatchEvent> | typeof idle;
          if (req.progressNotify) {
            r = await Promise.race([pending, new Promise<typeof idle>((resolve) => (timer = setTimeout(() => resolve(idle), b.bookmarkIntervalMs)))]);
            clearTimeout(timer);
          } else {
            r = await pending;
          }
          if (r === idle) {
            yield { type: 'BOOKMARK', revision: BigInt(w.progressRevision) } satisfies WatchOut;
            continue;
          }
          pending = undefined;
          if (r.done === true) {
            if (life.signal.aborted && !ctx.signal.aborted) throw new GrpcError(Status.UNAVAILABLE, `${b.name} is shutting down; watch again at another member`);
            return;
          }
          const out = filterEvent(sel, r.value);
          if (out !== undefined) yield { type: out.type, object: secrets.encode(out.object, out.type === 'DELETED'), revision: BigInt(r.value.revision) } satisfies WatchOut;
        }
      } catch (err) {
        if (isExpiredError(err)) throw new GrpcError(Status.OUT_OF_RANGE, err.message);
        throw err;
      } finally {
        clearTimeout(timer);
        void w.return?.();
        life.done();
      }
    },
  };
}
