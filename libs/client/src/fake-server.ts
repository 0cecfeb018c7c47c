// fake-server.ts (@tugboat/client/testing): an in-memory ObjectService + ClusterService served
// over real gRPC on 127.0.0.1, for tests of the client, the CLI and, later, controllers, until
// they run against tug-control itself.
//
// One FakeApi holds the state (objects, revisions, watch history, request ids, members) and
// can be served by several FakeServers at once, each standing for a control member behind its
// own address: stop one and the others go on serving the same state. It follows the contract in
// proto/tug/v1/api.proto: validation and defaulting by @tugboat/api (INVALID_ARGUMENT naming
// every field), ALREADY_EXISTS, NOT_FOUND, ABORTED for a resourceVersion mismatch, OUT_OF_RANGE
// for a watch from before the kept history (see compact()), exactly-once writes by request id.
// Deletes follow it too: a Pod bound to a node with a grace above 0 is marked (deletionTimestamp,
// deletionGracePeriodSeconds; a shorter grace later moves the time earlier) and stays until
// deleted with grace 0 (no agent here does that: a test does); expected_uid; "Orphan".
//
// Faults for tests: failNext() fails the next calls of a method (before or after applying
// them), breakWatches() ends every open watch stream with an error, and watchFault makes the
// next watch streams break after a number of events.
import { randomUUID } from 'node:crypto';
import {
  applyDefaults,
  findKind,
  initialObjects,
  isNamespaced,
  isKind,
  matches,
  matchesFields,
  parseFieldSelector,
  parseSelector,
  validate,
  validateUpdate,
  validationError,
} from '@tugboat/api';
import type { ApiObject } from '@tugboat/api';
import {
  ClusterService,
  GrpcError,
  ObjectService,
  Server,
  Status,
  addService,
  bindServer,
  shutdownServer,
  statusName,
} from '@tugboat/proto';
import type { CallContext, ServiceImpl, StatusCode } from '@tugboat/proto';

type Obj = Record<string, unknown> & { kind: string; metadata: Record<string, unknown> };

/** FakeMember is one member as ClusterService reports it. */
export interface FakeMember {
  name: string;
  peerAddress: string;
  apiAddress: string;
  role: string;
  term: number;
  commit: number;
  applied: number;
  leader: string;
  reachable: boolean;
  error: string;
}

/** FakeCall records one call a FakeServer answered. */
export interface FakeCall {
  readonly endpoint: string;
  readonly method: string;
  /** requestId of a write ("" for reads). */
  readonly requestId: string;
  /** code the call ended with, by name ("OK", "UNAVAILABLE", ...). Watches record how they opened. */
  readonly code: string;
}

/** FakeFault fails calls of one method (and optionally one endpoint). */
export interface FakeFault {
  readonly method: string;
  readonly code: StatusCode;
  readonly message?: string;
  /** times to fail; default 1. */
  readonly times?: number;
  /** endpoint limits the fault to one FakeServer address. */
  readonly endpoint?: string;
  /** afterApply applies the write first, then fails the call (a lost answer). */
  readonly afterApply?: boolean;
}

interface StoredEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Obj;
  readonly revision: number;
}

interface Watcher {
  push(ev: StoredEvent): void;
  fail(err: GrpcError): void;
}

type Answer = { ok: true; objects: (Obj | null)[] } | { ok: false; err: GrpcError };

/** FakeOp is one write of FakeApi.write. */
export type FakeOp =
  | { op: 'create'; object: Obj }
  | { op: 'update'; object: Obj; expected: string; statusOnly: boolean }
  | {
      op: 'delete';
      kind: string;
      namespace: string;
      name: string;
      expected: string;
      /** graceful: present for a Delete call, whose bound pods are marked with `requested` grace
       *  (undefined: the pod's own); absent (txn deletes), the object is removed at once. */
      graceful?: { requested: number | undefined } | undefined;
      expectedUid?: string | undefined;
      orphan?: boolean | undefined;
    };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(o: unknown): Uint8Array {
  return o === null || o === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(o));
}

function plural(kind: string): string {
  return findKind(kind)?.plural ?? kind.toLowerCase();
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

function now(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** podGrace is the grace a delete gives a stored pod: undefined when it is removed at once. */
function podGrace(o: Obj, requested: number | undefined): number | undefined {
  const spec = o['spec'] as { nodeName?: unknown; terminationGracePeriodSeconds?: unknown } | undefined;
  if (o.kind !== 'Pod' || typeof spec?.nodeName !== 'string' || spec.nodeName === '') return undefined;
  const grace = requested ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
  return grace > 0 ? grace : undefined;
}

/** FakeApi is the shared state of a fake control plane. */
export class FakeApi {
  /** calls lists every call answered, oldest first. */
  readonly calls: FakeCall[] = [];
  /** members is what ClusterService reports; tests may change it. */
  members: FakeMember[] = [];
  clusterId = 'fake-cluster';
  /** watchFault, when set, makes each new watch stream fail with `code` after `afterEvents`
   *  events; `times` streams are affected (default 1), then it clears itself. */
  watchFault: { afterEvents: number; code?: StatusCode; times?: number } | undefined;
  /** bookmarkIntervalMs: how often progress_notify watches get a BOOKMARK while idle. */
  bookmarkIntervalMs = 200;

  private readonly objects = new Map<string, Obj>();
  private history: StoredEvent[] = [];
  private rev = 0;
  private compacted = 0;
  private readonly requestIds = new Map<string, Answer>();
  private readonly watchers = new Set<Watcher>();
  private faults: (FakeFault & { left: number })[] = [];

  constructor(opts: { empty?: boolean } = {}) {
    if (opts.empty !== true) for (const o of initialObjects()) this.seed(o);
  }

  /** revision is the store revision: the last write's. */
  get revision(): number {
    return this.rev;
  }

  /** compactRevision: watches must start at or after it. */
  get compactRevision(): number {
    return this.compacted;
  }

  /** seed writes an object as a create would (defaults and server fields; no validation). */
  seed(obj: unknown): Obj {
    const answer = this.commit([{ op: 'create', object: applyDefaults(obj) as Obj }], false);
    if (!answer.ok) throw answer.err;
    return answer.objects[0]!;
  }

  /** object returns the stored object, or undefined. */
  object(kind: string, namespace: string, name: string): Obj | undefined {
    const o = this.objects.get(this.key(kind, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** all returns every stored object of a kind. */
  all(kind: string): Obj[] {
    return [...this.objects.values()].filter((o) => o.kind === kind).map((o) => structuredClone(o));
  }

  /** compact drops the watch history up to `revision` (default: all of it). */
  compact(revision = this.rev): void {
    this.compacted = Math.max(this.compacted, revision);
    this.history = this.history.filter((e) => e.revision > this.compacted);
  }

  /** failNext makes the next matching calls fail. */
  failNext(fault: FakeFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** breakWatches ends every open watch stream with `code` (default UNAVAILABLE). */
  breakWatches(code: StatusCode = Status.UNAVAILABLE): void {
    for (const w of [...this.watchers]) w.fail(new GrpcError(code, 'watch broken by the test'));
  }

  /** openWatches is how many watch streams are open. */
  get openWatches(): number {
    return this.watchers.size;
  }

  /** write applies writes directly (as another client would), for tests. */
  write(ops: FakeOp[]): (Obj | null)[] {
    const a = this.commit(ops, true);
    if (!a.ok) throw a.err;
    return a.objects;
  }

  // -------------------------------------------------------------------------------------------

  private key(kind: string, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  /** fault takes the first fault for this call, if any. */
  takeFault(method: string, endpoint: string): (FakeFault & { left: number }) | undefined {
    const f = this.faults.find((x) => x.method === method && (x.endpoint === undefined || x.endpoint === endpoint));
    if (f === undefined) return undefined;
    if (--f.left <= 0) this.faults = this.faults.filter((x) => x !== f);
    return f;
  }

  record(endpoint: string, method: string, requestId: string, code: number): void {
    this.calls.push({ endpoint, method, requestId, code: statusName(code) });
  }

  /** apply runs a write request with request-id deduplication. */
  applyWrite(ops: FakeOp[], requestId: string): Answer {
    if (requestId !== '') {
      const prior = this.requestIds.get(requestId);
      if (prior !== undefined) return prior;
    }
    const answer = this.commit(ops, true);
    if (requestId !== '') this.requestIds.set(requestId, answer);
    return answer;
  }

  private commit(ops: FakeOp[], check: boolean): Answer {
    try {
      const staged = new Map<string, Obj | null>();
      const events: Omit<StoredEvent, 'revision'>[] = [];
      const rev = this.rev + 1;
      const read = (k: string): Obj | undefined => (staged.has(k) ? (staged.get(k) ?? undefined) : this.objects.get(k));
      const results: (Obj | null)[] = [];
      for (const op of ops) results.push(this.one(op, check, rev, read, staged, events));
      if (events.length === 0) return { ok: true, objects: results };
      this.rev = rev;
      for (const [k, v] of staged) {
        if (v === null) this.objects.delete(k);
        else this.objects.set(k, v);
      }
      for (const e of events) {
        const ev = { ...e, revision: rev };
        this.history.push(ev);
        for (const w of this.watchers) w.push(ev);
      }
      return { ok: true, objects: results };
    } catch (err) {
      if (err instanceof GrpcError) return { ok: false, err };
      throw err;
    }
  }

  private one(
    op: FakeOp,
    check: boolean,
    rev: number,
    read: (k: string) => Obj | undefined,
    staged: Map<string, Obj | null>,
    events: Omit<StoredEvent, 'revision'>[],
  ): Obj | null {
    const invalid = (obj: unknown, issues: ReturnType<typeof validate>): never => {
      throw new GrpcError(Status.INVALID_ARGUMENT, validationError(obj, issues).message);
    };
    if (op.op === 'delete') {
      const k = this.key(op.kind, op.namespace, op.name);
      const cur = read(k);
      if (cur === undefined) throw new GrpcError(Status.NOT_FOUND, `${plural(op.kind)} "${op.name}" not found`);
      this.checkVersion(cur, op.expected);
      const uid = String(cur.metadata['uid']);
      if (op.expectedUid !== undefined && op.expectedUid !== '' && op.expectedUid !== uid) {
        throw new GrpcError(Status.ABORTED, `Precondition failed on ${plural(op.kind)} "${op.name}": expected uid ${op.expectedUid}, stored ${uid}`);
      }
      if (op.orphan === true) this.orphan(uid, k, rev, read, staged, events);
      const grace = op.graceful === undefined ? undefined : podGrace(cur, op.graceful.requested);
      if (grace !== undefined) return this.mark(cur, k, grace, rev, staged, events);
      const gone = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(rev) } };
      staged.set(k, null);
      if (op.kind === 'Namespace') {
        for (const [ok, o] of this.objects) {
          if (o.metadata['namespace'] === op.name && read(ok) !== undefined) {
            staged.set(ok, null);
            events.push({ type: 'DELETED', object: { ...o, metadata: { ...o.metadata, resourceVersion: String(rev) } } });
          }
        }
      }
      events.push({ type: 'DELETED', object: gone });
      return gone;
    }
    const raw = op.object;
    if (check) {
      const issues = validate(raw);
      if (issues.length > 0) invalid(raw, issues);
    }
    const obj = applyDefaults(raw) as Obj;
    const kind = obj.kind;
    const ns = String(obj.metadata['namespace'] ?? '');
    const name = String(obj.metadata['name'] ?? '');
    const k = this.key(kind, ns, name);
    const cur = read(k);
    if (op.op === 'create') {
      if (cur !== undefined) throw new GrpcError(Status.ALREADY_EXISTS, `${plural(kind)} "${name}" already exists`);
      if (isKind(kind) && isNamespaced(kind) && read(this.key('Namespace', '', ns)) === undefined) {
        throw new GrpcError(Status.NOT_FOUND, `namespaces "${ns}" not found`);
      }
      const stored: Obj = {
        ...obj,
        metadata: { ...obj.metadata, uid: randomUUID(), creationTimestamp: now(), generation: 1, resourceVersion: String(rev) },
      };
      staged.set(k, stored);
      events.push({ type: 'ADDED', object: stored });
      return stored;
    }
    if (cur === undefined) throw new GrpcError(Status.NOT_FOUND, `${plural(kind)} "${name}" not found`);
    this.checkVersion(cur, op.expected || String(obj.metadata['resourceVersion'] ?? ''));
    let next: Obj;
    if (op.statusOnly) {
      next = { ...cur, status: obj['status'] };
    } else {
      if (check) {
        const issues = validateUpdate(cur as unknown as ApiObject, obj);
        if (issues.length > 0) invalid(raw, issues);
      }
      next = { ...obj, status: obj['status'] ?? cur['status'] };
      if (obj['status'] === undefined) delete next['status'];
      const m = cur.metadata;
      // The deletion fields are the server's: kept as stored, whatever the update says.
      const { deletionTimestamp: _t, deletionGracePeriodSeconds: _g, ...given } = obj.metadata;
      next.metadata = {
        ...given,
        uid: m['uid'],
        creationTimestamp: m['creationTimestamp'],
        generation: (m['generation'] as number) + (same(cur['spec'], obj['spec']) ? 0 : 1),
        ...(m['deletionTimestamp'] === undefined ? {} : { deletionTimestamp: m['deletionTimestamp'] }),
        ...(m['deletionGracePeriodSeconds'] === undefined ? {} : { deletionGracePeriodSeconds: m['deletionGracePeriodSeconds'] }),
      };
    }
    const strip = (o: Obj) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
    if (same(strip(next), strip(cur))) return cur; // no change: nothing written
    next = { ...next, metadata: { ...next.metadata, resourceVersion: String(rev) } };
    staged.set(k, next);
    events.push({ type: 'MODIFIED', object: next });
    return next;
  }

  /** mark starts or shortens a pod's graceful deletion (as the control plane does). */
  private mark(cur: Obj, k: string, grace: number, rev: number, staged: Map<string, Obj | null>, events: Omit<StoredEvent, 'revision'>[]): Obj {
    const m = cur.metadata;
    let at = now(Date.now() + grace * 1000);
    if (m['deletionTimestamp'] !== undefined) {
      const had = Number(m['deletionGracePeriodSeconds']);
      if (grace >= had) return cur;
      at = now(Date.parse(String(m['deletionTimestamp'])) - (had - grace) * 1000);
    }
    const next = { ...cur, metadata: { ...m, deletionTimestamp: at, deletionGracePeriodSeconds: grace, resourceVersion: String(rev) } };
    staged.set(k, next);
    events.push({ type: 'MODIFIED', object: next });
    return next;
  }

  /** orphan drops owner `uid` from the ownerReferences of every other object that lists it. */
  private orphan(uid: string, ownerKey: string, rev: number, read: (k: string) => Obj | undefined, staged: Map<string, Obj | null>, events: Omit<StoredEvent, 'revision'>[]): void {
    for (const k of new Set([...this.objects.keys(), ...staged.keys()])) {
      const o = read(k);
      const refs = o?.metadata['ownerReferences'];
      if (o === undefined || k === ownerKey || !Array.isArray(refs)) continue;
      const kept = refs.filter((r) => (r as { uid?: unknown }).uid !== uid);
      if (kept.length === refs.length) continue;
      const { ownerReferences: _dropped, ...meta } = o.metadata;
      const next = { ...o, metadata: { ...meta, ...(kept.length > 0 ? { ownerReferences: kept } : {}), resourceVersion: String(rev) } };
      staged.set(k, next);
      events.push({ type: 'MODIFIED', object: next });
    }
  }

  private checkVersion(cur: Obj, expected: string): void {
    const actual = String(cur.metadata['resourceVersion']);
    if (expected !== '' && expected !== actual) {
      throw new GrpcError(
        Status.ABORTED,
        `Operation cannot be fulfilled on ${plural(cur.kind)} "${String(cur.metadata['name'])}": the object has been modified; expected resourceVersion ${expected}, stored ${actual}`,
      );
    }
  }

  /** select builds the filter of a list or watch; INVALID_ARGUMENT for a bad selector. */
  selector(kind: string, namespace: string, labelSelector: string, fieldSelector: string): (o: Obj) => boolean {
    try {
      const labels = parseSelector(labelSelector);
      const fields = parseFieldSelector(fieldSelector);
      return (o) =>
        o.kind === kind &&
        (namespace === '' || o.metadata['namespace'] === namespace) &&
        matches(labels, o.metadata['labels'] as Record<string, string> | undefined) &&
        matchesFields(fields, o);
    } catch (err) {
      throw new GrpcError(Status.INVALID_ARGUMENT, (err as Error).message);
    }
  }

  list(kind: string, filter: (o: Obj) => boolean): { items: Obj[]; revision: number } {
    const items = [...this.objects.values()].filter(filter);
    items.sort((a, b) => {
      const ka = `${String(a.metadata['namespace'] ?? '')}/${String(a.metadata['name'])}`;
      const kb = `${String(b.metadata['namespace'] ?? '')}/${String(b.metadata['name'])}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    return { items, revision: this.rev };
  }

  /** subscribe returns the backlog after `from` and registers w for later events. */
  subscribe(from: number, w: Watcher): StoredEvent[] {
    if (from !== 0 && from < this.compacted) {
      throw new GrpcError(Status.OUT_OF_RANGE, `revision ${from} is older than the kept history (oldest ${this.compacted}): list again`);
    }
    const start = from === 0 ? this.rev : from;
    this.watchers.add(w);
    return this.history.filter((e) => e.revision > start);
  }

  unsubscribe(w: Watcher): void {
    this.watchers.delete(w);
  }
}

function parse(b: Uint8Array): Obj {
  let o: unknown;
  try {
    o = JSON.parse(decoder.decode(b));
  } catch (err) {
    throw new GrpcError(Status.INVALID_ARGUMENT, `object is not JSON: ${(err as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new GrpcError(Status.INVALID_ARGUMENT, 'object must be a JSON object');
  const obj = o as Obj;
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  return obj;
}

/** A queue of watch events with one consumer. */
class EventQueue implements Watcher {
  private items: StoredEvent[] = [];
  private failure: GrpcError | undefined;
  private wake: (() => void) | undefined;

  push(ev: StoredEvent): void {
    this.items.push(ev);
    this.wake?.();
  }

  fail(err: GrpcError): void {
    this.failure ??= err;
    this.wake?.();
  }

  /** next waits up to ms for an event; undefined on timeout. */
  async next(signal: AbortSignal, ms: number): Promise<StoredEvent | undefined> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const ev = this.items.shift();
      if (ev !== undefined) return ev;
      if (signal.aborted) throw new GrpcError(Status.CANCELLED, 'cancelled');
      const woke = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve(true);
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
      if (!woke) return undefined;
    }
  }
}

/** FakeServer serves a FakeApi on 127.0.0.1 (a free port unless given). */
export class FakeServer {
  readonly api: FakeApi;
  readonly address: string;
  private readonly server: Server;
  private stopped = false;

  private constructor(api: FakeApi, server: Server, address: string) {
    this.api = api;
    this.server = server;
    this.address = address;
  }

  /** start serves api on 127.0.0.1:port (0: any free port). */
  static async start(api: FakeApi, port = 0): Promise<FakeServer> {
    const server = new Server();
    let address = '';
    const endpoint = () => address;
    addService(server, ObjectService, objectService(api, endpoint));
    addService(server, ClusterService, clusterService(api, endpoint));
    const bound = await bindServer(server, `127.0.0.1:${port}`);
    address = `127.0.0.1:${bound}`;
    return new FakeServer(api, server, address);
  }

  /** stop shuts the server down at once (open streams break, as when a member dies). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.server.forceShutdown();
    await shutdownServer(this.server, 0).catch(() => undefined);
  }
}

function objectService(api: FakeApi, endpoint: () => string): ServiceImpl<typeof ObjectService> {
  /** guard runs a call: records it, applies a fault before or after fn. */
  const guard = async <T>(method: string, requestId: string, fn: () => T): Promise<T> => {
    const fault = api.takeFault(method, endpoint());
    try {
      if (fault !== undefined && fault.afterApply !== true) throw new GrpcError(fault.code, fault.message ?? `injected ${statusName(fault.code)}`);
      const res = fn();
      if (fault !== undefined) throw new GrpcError(fault.code, fault.message ?? `injected ${statusName(fault.code)} after applying`);
      api.record(endpoint(), method, requestId, Status.OK);
      return res;
    } catch (err) {
      api.record(endpoint(), method, requestId, err instanceof GrpcError ? err.code : Status.INTERNAL);
      throw err;
    }
  };
  const write = (ops: FakeOp[], requestId: string): (Obj | null)[] => {
    const a = api.applyWrite(ops, requestId);
    if (!a.ok) throw a.err;
    return a.objects;
  };
  return {
    async create(req) {
      return guard('create', req.requestId, () => ({ object: bytes(write([{ op: 'create', object: parse(req.object) }], req.requestId)[0]) }));
    },
    async update(req) {
      return guard('update', req.requestId, () => {
        const object = parse(req.object);
        const res = write([{ op: 'update', object, expected: '', statusOnly: req.statusOnly }], req.requestId);
        return { object: bytes(res[0]) };
      });
    },
    async delete(req) {
      return guard('delete', req.requestId, () => {
        const ref = req.ref;
        if (ref === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, 'ref: required');
        const policy = req.propagationPolicy;
        if (policy !== '' && policy !== 'Background' && policy !== 'Orphan') {
          throw new GrpcError(Status.INVALID_ARGUMENT, `propagation_policy: must be "Background" or "Orphan", got ${JSON.stringify(policy)}`);
        }
        const res = write(
          [
            {
              op: 'delete',
              kind: ref.kind,
              namespace: ref.namespace,
              name: ref.name,
              expected: req.expectedResourceVersion,
              graceful: { requested: req.gracePeriodSeconds === undefined ? undefined : Number(req.gracePeriodSeconds) },
              expectedUid: req.expectedUid,
              orphan: policy === 'Orphan',
            },
          ],
          req.requestId,
        );
        return { object: bytes(res[0]) };
      });
    },
    async txn(req) {
      return guard('txn', req.requestId, () => {
        const ops: FakeOp[] = req.ops.map((op): FakeOp => {
          switch (op.op.case) {
            case 'create':
              return { op: 'create', object: parse(op.op.value) };
            case 'update':
              return { op: 'update', object: parse(op.op.value), expected: op.expectedResourceVersion, statusOnly: false };
            case 'delete':
              return { op: 'delete', kind: op.op.value.kind, namespace: op.op.value.namespace, name: op.op.value.name, expected: op.expectedResourceVersion };
            default:
              throw new GrpcError(Status.INVALID_ARGUMENT, 'ops: an op without create, update or delete');
          }
        });
        return { objects: write(ops, req.requestId).map(bytes) };
      });
    },
    async get(req) {
      return guard('get', '', () => {
        const ref = req.ref;
        if (ref === undefined) throw new GrpcError(Status.INVALID_ARGUMENT, 'ref: required');
        const o = api.object(ref.kind, ref.namespace, ref.name);
        if (o === undefined) throw new GrpcError(Status.NOT_FOUND, `${plural(ref.kind)} "${ref.name}" not found`);
        return { object: bytes(o) };
      });
    },
    async list(req) {
      return guard('list', '', () => {
        const { items, revision } = api.list(req.kind, api.selector(req.kind, req.namespace, req.labelSelector, req.fieldSelector));
        return { items: items.map(bytes), revision: BigInt(revision) };
      });
    },
    async *watch(req, ctx: CallContext) {
      const fault = api.takeFault('watch', endpoint());
      if (fault !== undefined) {
        api.record(endpoint(), 'watch', '', fault.code);
        throw new GrpcError(fault.code, fault.message ?? `injected ${statusName(fault.code)}`);
      }
      const filter = api.selector(req.kind, req.namespace, req.labelSelector, req.fieldSelector);
      const queue = new EventQueue();
      let backlog: StoredEvent[];
      try {
        backlog = api.subscribe(Number(req.fromRevision), queue);
      } catch (err) {
        api.record(endpoint(), 'watch', '', err instanceof GrpcError ? err.code : Status.INTERNAL);
        throw err;
      }
      api.record(endpoint(), 'watch', '', Status.OK);
      let breakAfter: { left: number; code: StatusCode } | undefined;
      const wf = api.watchFault;
      if (wf !== undefined) {
        breakAfter = { left: wf.afterEvents, code: wf.code ?? Status.UNAVAILABLE };
        const times = (wf.times ?? 1) - 1;
        api.watchFault = times > 0 ? { ...wf, times } : undefined;
      }
      let reached = Number(req.fromRevision) === 0 ? api.revision : Number(req.fromRevision);
      try {
        for (const ev of backlog) queue.push(ev);
        for (;;) {
          const ev = await queue.next(ctx.signal, api.bookmarkIntervalMs);
          if (ev === undefined) {
            if (req.progressNotify) yield { type: 'BOOKMARK', revision: BigInt(Math.max(reached, api.revision)) };
            continue;
          }
          reached = ev.revision;
          if (!filter(ev.object)) continue;
          if (breakAfter !== undefined && breakAfter.left-- <= 0) throw new GrpcError(breakAfter.code, 'watch broken by the test');
          yield { type: ev.type, object: bytes(ev.object), revision: BigInt(ev.revision) };
        }
      } finally {
        api.unsubscribe(queue);
      }
    },
  };
}

function clusterService(api: FakeApi, endpoint: () => string): ServiceImpl<typeof ClusterService> {
  const member = (m: FakeMember) => ({ ...m, term: BigInt(m.term), commit: BigInt(m.commit), applied: BigInt(m.applied) });
  const guard = <T>(method: string, fn: () => T): T => {
    const fault = api.takeFault(method, endpoint());
    if (fault !== undefined) {
      api.record(endpoint(), method, '', fault.code);
      throw new GrpcError(fault.code, fault.message ?? `injected ${statusName(fault.code)}`);
    }
    api.record(endpoint(), method, '', Status.OK);
    return fn();
  };
  return {
    async health() {
      return guard('health', () => ({ ready: true, name: api.members.find((m) => m.apiAddress === endpoint())?.name ?? endpoint() }));
    },
    async status() {
      return guard('status', () => ({ members: api.members.map(member), clusterId: api.clusterId }));
    },
    async memberStatus() {
      return guard('memberStatus', () => {
        const m = api.members.find((x) => x.apiAddress === endpoint());
        return m === undefined ? { clusterId: api.clusterId } : { member: member(m), clusterId: api.clusterId };
      });
    },
    async addMember(req) {
      return guard('addMember', () => {
        if (req.name === '' || req.peerAddress === '' || req.apiAddress === '') {
          throw new GrpcError(Status.INVALID_ARGUMENT, 'name, peer_address and api_address are required');
        }
        const existing = api.members.find((m) => m.name === req.name);
        if (existing !== undefined && (existing.peerAddress !== req.peerAddress || existing.apiAddress !== req.apiAddress)) {
          throw new GrpcError(Status.ALREADY_EXISTS, `member "${req.name}" already exists with other addresses`);
        }
        if (existing === undefined) {
          const leader = api.members.find((m) => m.role === 'leader');
          api.members.push({
            name: req.name,
            peerAddress: req.peerAddress,
            apiAddress: req.apiAddress,
            role: 'follower',
            term: leader?.term ?? 1,
            commit: 0,
            applied: 0,
            leader: leader?.name ?? '',
            reachable: false,
            error: 'not started yet',
          });
        }
        return { members: api.members.map(member), clusterId: api.clusterId };
      });
    },
    async removeMember(req) {
      return guard('removeMember', () => {
        if (!api.members.some((m) => m.name === req.name)) throw new GrpcError(Status.NOT_FOUND, `member "${req.name}" not found`);
        api.members = api.members.filter((m) => m.name !== req.name);
        return { members: api.members.map(member) };
      });
    },
    async transferLeadership(req) {
      return guard('transferLeadership', () => {
        const to = api.members.find((m) => m.name === req.to);
        if (to === undefined) throw new GrpcError(Status.NOT_FOUND, `member "${req.to}" not found`);
        for (const m of api.members) {
          m.role = m === to ? 'leader' : 'follower';
          m.leader = to.name;
        }
        return { leader: to.name };
      });
    },
  };
}
