// client.ts: TugClient, the typed API client, and its per-kind resource clients.
import { randomUUID } from 'node:crypto';
import { findKind, isNamespaced } from '@tugboat/api';
import type {
  ConfigMap,
  Deployment,
  Endpoints,
  Event,
  Kind,
  Lease,
  Namespace,
  Node,
  ObjectOfKind,
  Pod,
  ReplicaSet,
  Secret,
  Service,
} from '@tugboat/api';
import { create } from '@bufbuild/protobuf';
import { ObjectRefSchema, Status } from '@tugboat/proto';
import type { BootstrapToken, ControlMember, TxnOp as ProtoTxnOp } from '@tugboat/proto';
import { decodeObject, encodeObject, revisionNumber, selectorText } from './codec.ts';
import { EndpointPool } from './endpoints.ts';
import type { EndpointPoolOptions, InProcessPoolOptions } from './endpoints.ts';
import { ApiError } from './errors.ts';
import { Informer } from './informer.ts';
import type { InformerOptions } from './informer.ts';
import type {
  ClusterStatus,
  DeleteOptions,
  Health,
  ListOptions,
  MemberInfo,
  ObjectLike,
  ObjectList,
  ObjectRef,
  ReadOptions,
  RequestOptions,
  TxnOp,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './types.ts';
import { resumableWatch } from './watch.ts';

/** TugClientOptions configure a TugClient: the API endpoints to call over the network
 *  (EndpointPoolOptions, with the retry knobs), or the API of this very process
 *  (InProcessPoolOptions, for a control member's own loops). */
export type TugClientOptions = EndpointPoolOptions | InProcessPoolOptions;

/** Membership calls wait for a Raft round; they get longer attempts than object calls. */
const membershipAttemptTimeoutMs = 30_000;

function refOf(obj: ObjectLike): ObjectRef {
  return { kind: obj.kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '' };
}

function withApiVersion<T extends ObjectLike>(obj: T): T {
  if (obj.apiVersion !== undefined && obj.apiVersion !== '') return obj;
  const info = findKind(obj.kind);
  return info === undefined || info.kind !== obj.kind ? obj : { ...obj, apiVersion: info.apiVersion };
}

function requestIdOf(opts: WriteOptions | undefined): string {
  const id = opts?.requestId ?? randomUUID();
  if (id.length === 0 || id.length > 128) throw new TypeError(`requestId must have 1 to 128 characters, got ${id.length}`);
  return id;
}

function memberInfo(m: ControlMember): MemberInfo {
  return {
    name: m.name,
    peerAddress: m.peerAddress,
    apiAddress: m.apiAddress,
    role: m.role,
    term: revisionNumber(m.term),
    commit: revisionNumber(m.commit),
    applied: revisionNumber(m.applied),
    leader: m.leader,
    reachable: m.reachable,
    error: m.error,
    rssBytes: Number(m.rssBytes),
    heapUsedBytes: Number(m.heapUsedBytes),
    heapTotalBytes: Number(m.heapTotalBytes),
    externalBytes: Number(m.externalBytes),
  };
}

/**
 * TugClient talks to the tug-control API through a list of endpoints with failover (see
 * endpoints.ts for the retry rules). Objects are plain JSON values shaped like Kubernetes
 * objects; what the client returns is freshly decoded and the caller's to keep or change.
 *
 * - `client.pods.get(ns, name)`, `.list()`, `.create()`, `.update()`, `.updateStatus()`,
 *   `.delete()`, `.watch()`, `.informer()`: one accessor per kind (`nodes.get(name)` for the
 *   cluster-scoped Namespace and Node); `client.resource(kind)` gives the same for a kind by name.
 * - `client.get/list/create/update/updateStatus/delete/watch` take a kind or ref, for code that
 *   handles every kind alike (the CLI).
 * - `client.txn(ops)`: several writes, atomically.
 * - `client.cluster.status()`, `.addMember()`, `.removeMember()`, `.transferLeadership()`;
 *   `client.health()`.
 * Call `close()` when done.
 */
export class TugClient {
  readonly pool: EndpointPool;
  readonly cluster: ClusterClient;

  readonly namespaces: ClusterResource<Namespace>;
  readonly nodes: ClusterResource<Node>;
  readonly pods: NamespacedResource<Pod>;
  readonly replicaSets: NamespacedResource<ReplicaSet>;
  readonly deployments: NamespacedResource<Deployment>;
  readonly services: NamespacedResource<Service>;
  readonly endpoints: NamespacedResource<Endpoints>;
  readonly configMaps: NamespacedResource<ConfigMap>;
  readonly secrets: NamespacedResource<Secret>;
  readonly events: NamespacedResource<Event>;
  readonly leases: NamespacedResource<Lease>;

  constructor(opts: TugClientOptions) {
    this.pool = new EndpointPool(opts);
    this.cluster = new ClusterClient(this.pool);
    this.namespaces = new ClusterResource(this, 'Namespace');
    this.nodes = new ClusterResource(this, 'Node');
    this.pods = new NamespacedResource(this, 'Pod');
    this.replicaSets = new NamespacedResource(this, 'ReplicaSet');
    this.deployments = new NamespacedResource(this, 'Deployment');
    this.services = new NamespacedResource(this, 'Service');
    this.endpoints = new NamespacedResource(this, 'Endpoints');
    this.configMaps = new NamespacedResource(this, 'ConfigMap');
    this.secrets = new NamespacedResource(this, 'Secret');
    this.events = new NamespacedResource(this, 'Event');
    this.leases = new NamespacedResource(this, 'Lease');
  }

  /** apiAddresses are the endpoints, in the order given (duplicates dropped). */
  get apiAddresses(): readonly string[] {
    return this.pool.addresses;
  }

  /** resource returns the typed client of a kind: ClusterResource for Namespace and Node,
   *  NamespacedResource for the others. */
  resource<K extends Kind>(kind: K): ResourceOf<K> {
    const r = isNamespaced(kind) ? new NamespacedResource(this, kind) : new ClusterResource(this, kind);
    return r as unknown as ResourceOf<K>;
  }

  /** get reads one object; NotFoundError when it does not exist. */
  async get<T extends ObjectLike = ObjectLike>(ref: ObjectRef, opts?: ReadOptions): Promise<T> {
    const res = await this.pool.call(
      (ep, o) => ep.objects.get({ ref: { kind: ref.kind, namespace: ref.namespace ?? '', name: ref.name }, staleOk: opts?.staleOk === true }, o),
      { safety: 'idempotent', signal: opts?.signal, budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs },
    );
    return this.must<T>(res.object, 'Get');
  }

  /** list reads every object of a kind that the options select, ordered by namespace and name. */
  async list<T extends ObjectLike = ObjectLike>(kind: string, opts?: ListOptions): Promise<ObjectList<T>> {
    const req = {
      kind,
      namespace: opts?.namespace ?? '',
      labelSelector: selectorText(opts?.labelSelector),
      fieldSelector: opts?.fieldSelector ?? '',
      staleOk: opts?.staleOk === true,
    };
    const res = await this.pool.call((ep, o) => ep.objects.list(req, o), {
      safety: 'idempotent',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs,
    });
    return { items: res.items.map((b) => this.must<T>(b, 'List')), revision: revisionNumber(res.revision) };
  }

  /** create writes a new object and returns it as stored; AlreadyExistsError if the name is taken.
   *  A missing apiVersion is filled in from the kind. */
  async create<T extends ObjectLike>(obj: T, opts?: WriteOptions): Promise<T> {
    const requestId = requestIdOf(opts);
    const object = encodeObject(withApiVersion(obj));
    const res = await this.pool.call((ep, o) => ep.objects.create({ object, requestId }, o), {
      safety: 'idempotent',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs,
    });
    return this.written(res.object, obj, opts);
  }

  /** update replaces an object. With metadata.resourceVersion set it is a compare-and-swap
   *  (ConflictError when the stored version differs); without, unconditional. */
  update<T extends ObjectLike>(obj: T, opts?: WriteOptions): Promise<T> {
    return this.replace(obj, false, opts);
  }

  /** updateStatus replaces only `status` (spec and metadata stay as stored); CAS as update. */
  updateStatus<T extends ObjectLike>(obj: T, opts?: WriteOptions): Promise<T> {
    return this.replace(obj, true, opts);
  }

  private async replace<T extends ObjectLike>(obj: T, statusOnly: boolean, opts: WriteOptions | undefined): Promise<T> {
    const requestId = requestIdOf(opts);
    const object = encodeObject(withApiVersion(obj));
    const res = await this.pool.call((ep, o) => ep.objects.update({ object, requestId, statusOnly }, o), {
      safety: 'idempotent',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs,
    });
    return this.written(res.object, obj, opts);
  }

  /** delete removes an object and returns it as it was (undefined when the server did not say,
   *  as for a retried delete). Deleting a Namespace deletes everything in it. A Pod bound to a
   *  node with a grace period is only marked: the answer is the pod with its deletionTimestamp. */
  async delete<T extends ObjectLike = ObjectLike>(ref: ObjectRef, opts?: DeleteOptions): Promise<T | undefined> {
    const requestId = requestIdOf(opts);
    const grace = opts?.gracePeriodSeconds;
    if (grace !== undefined && !(Number.isSafeInteger(grace) && grace >= 0)) {
      throw new TypeError(`delete: gracePeriodSeconds must be a whole number >= 0, got ${grace}`);
    }
    const req = {
      ref: { kind: ref.kind, namespace: ref.namespace ?? '', name: ref.name },
      expectedResourceVersion: opts?.expectedResourceVersion ?? '',
      requestId,
      ...(grace === undefined ? {} : { gracePeriodSeconds: BigInt(grace) }),
      propagationPolicy: opts?.propagationPolicy ?? '',
      expectedUid: opts?.expectedUid ?? '',
    };
    const res = await this.pool.call((ep, o) => ep.objects.delete(req, o), {
      safety: 'idempotent',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs,
    });
    return decodeObject<T>(res.object);
  }

  /** txn applies several writes atomically (all or none) and returns, per op, the object written
   *  or deleted (undefined where the server did not say). */
  async txn(ops: readonly TxnOp[], opts?: WriteOptions): Promise<(ObjectLike | undefined)[]> {
    if (ops.length === 0) throw new TypeError('txn: give at least one op');
    const requestId = requestIdOf(opts);
    const protoOps = ops.map((op): { op: ProtoTxnOp['op']; expectedResourceVersion: string } => {
      switch (op.op) {
        case 'create':
          return { op: { case: 'create', value: encodeObject(withApiVersion(op.object)) }, expectedResourceVersion: '' };
        case 'update':
          return { op: { case: 'update', value: encodeObject(withApiVersion(op.object)) }, expectedResourceVersion: op.expectedResourceVersion ?? '' };
        case 'delete': {
          const ref = create(ObjectRefSchema, { kind: op.ref.kind, namespace: op.ref.namespace ?? '', name: op.ref.name });
          return { op: { case: 'delete', value: ref }, expectedResourceVersion: op.expectedResourceVersion ?? '' };
        }
      }
    });
    const res = await this.pool.call((ep, o) => ep.objects.txn({ ops: protoOps, requestId }, o), {
      safety: 'idempotent',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs,
    });
    return res.objects.map((b) => decodeObject<ObjectLike>(b));
  }

  /** watch follows changes of a kind; see WatchEvent for what it yields and watch.ts for how it
   *  resumes. Iterate it with `for await`; stop with `break` or opts.signal. */
  watch<T extends ObjectLike = ObjectLike>(kind: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const listOpts = {
      namespace: opts.namespace,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      staleOk: opts.staleOk,
    };
    return resumableWatch<T>(
      { pool: this.pool, kind, list: (signal) => this.list<T>(kind, { ...listOpts, signal }) },
      opts,
    );
  }

  /** health asks one member whether it is ready: the given endpoint, else the first that answers. */
  async health(opts: RequestOptions & { endpoint?: string } = {}): Promise<Health> {
    let endpoint = '';
    const res = await this.pool.call(
      (ep, o) => {
        endpoint = ep.address;
        return ep.cluster.health({}, o);
      },
      { safety: 'idempotent', signal: opts.signal, budgetMs: opts.timeoutMs, attemptTimeoutMs: opts.attemptTimeoutMs, endpoint: opts.endpoint },
    );
    return { ready: res.ready, name: res.name, endpoint };
  }

  /** close closes every channel. Calls and watches still running fail or end. */
  close(): void {
    this.pool.close();
  }

  private must<T>(bytes: Uint8Array, method: string): T {
    const obj = decodeObject<T>(bytes);
    if (obj === undefined) throw new ApiError(Status.INTERNAL, `${method}: the server answered without an object`);
    return obj;
  }

  /** written decodes a write's answer. A retried write whose first attempt was applied may be
   *  answered without the object (it changed since): then the object is read back. */
  private async written<T extends ObjectLike>(bytes: Uint8Array, sent: T, opts: RequestOptions | undefined): Promise<T> {
    const obj = decodeObject<T>(bytes);
    if (obj !== undefined) return obj;
    return this.get<T>(refOf(sent), opts);
  }
}

/** ResourceOf maps a kind to its resource client type. */
export type ResourceOf<K extends Kind> = K extends 'Namespace' | 'Node' ? ClusterResource<ObjectOfKind<K>> : NamespacedResource<ObjectOfKind<K>>;

/** Resource holds what the resource clients of every kind share. */
export class Resource<T extends ObjectLike> {
  readonly client: TugClient;
  readonly kind: string;

  constructor(client: TugClient, kind: string) {
    this.client = client;
    this.kind = kind;
  }

  /** list reads the objects the options select (all namespaces unless opts.namespace). */
  list(opts?: ListOptions): Promise<ObjectList<T>> {
    return this.client.list<T>(this.kind, opts);
  }

  create(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.create(this.checked(obj), opts);
  }

  update(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.update(this.checked(obj), opts);
  }

  updateStatus(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.updateStatus(this.checked(obj), opts);
  }

  watch(opts?: WatchOptions): AsyncGenerator<WatchEvent<T>, void, undefined> {
    return this.client.watch<T>(this.kind, opts);
  }

  /** informer returns an Informer (list + watch + cache) over this kind; call start() on it. */
  informer(opts: Omit<InformerOptions, 'kind'> = {}): Informer<T> {
    return new Informer<T>((o) => this.client.watch<T>(this.kind, o), { ...opts, kind: this.kind });
  }

  private checked(obj: T): T {
    if (obj.kind !== this.kind) throw new TypeError(`${this.kind} client given a ${obj.kind}`);
    return obj;
  }
}

/** NamespacedResource is the client of a namespaced kind (Pod, Service, ...). */
export class NamespacedResource<T extends ObjectLike> extends Resource<T> {
  get(namespace: string, name: string, opts?: ReadOptions): Promise<T> {
    return this.client.get<T>({ kind: this.kind, namespace, name }, opts);
  }

  delete(namespace: string, name: string, opts?: DeleteOptions): Promise<T | undefined> {
    return this.client.delete<T>({ kind: this.kind, namespace, name }, opts);
  }
}

/** ClusterResource is the client of a cluster-scoped kind (Namespace, Node). */
export class ClusterResource<T extends ObjectLike> extends Resource<T> {
  get(name: string, opts?: ReadOptions): Promise<T> {
    return this.client.get<T>({ kind: this.kind, name }, opts);
  }

  delete(name: string, opts?: DeleteOptions): Promise<T | undefined> {
    return this.client.delete<T>({ kind: this.kind, name }, opts);
  }
}

/** ClusterClient calls ClusterService: membership and status of the control plane. */
export class ClusterClient {
  private readonly pool: EndpointPool;

  constructor(pool: EndpointPool) {
    this.pool = pool;
  }

  /** status describes every member as the answering member sees them. */
  async status(opts: RequestOptions & { endpoint?: string } = {}): Promise<ClusterStatus> {
    let endpoint = '';
    const res = await this.pool.call(
      (ep, o) => {
        endpoint = ep.address;
        return ep.cluster.status({}, o);
      },
      { safety: 'idempotent', signal: opts.signal, budgetMs: opts.timeoutMs, attemptTimeoutMs: opts.attemptTimeoutMs, endpoint: opts.endpoint },
    );
    return { clusterId: res.clusterId, members: res.members.map(memberInfo), endpoint };
  }

  /** memberStatus asks one member (the given endpoint, else the first that answers) about itself. */
  async memberStatus(opts: RequestOptions & { endpoint?: string } = {}): Promise<{ member: MemberInfo | undefined; clusterId: string }> {
    const res = await this.pool.call((ep, o) => ep.cluster.memberStatus({}, o), {
      safety: 'idempotent',
      signal: opts.signal,
      budgetMs: opts.timeoutMs, attemptTimeoutMs: opts.attemptTimeoutMs,
      endpoint: opts.endpoint,
    });
    return { member: res.member === undefined ? undefined : memberInfo(res.member), clusterId: res.clusterId };
  }

  /** addMember adds a voting member and resolves when the change is applied, with the members
   *  after it. Retried only on UNAVAILABLE (it carries no request id). */
  async addMember(member: { name: string; peerAddress: string; apiAddress: string }, opts?: RequestOptions): Promise<MemberInfo[]> {
    const res = await this.pool.call((ep, o) => ep.cluster.addMember(member, o), {
      safety: 'once',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs ?? Math.max(this.pool.retryBudgetMs, membershipAttemptTimeoutMs),
      attemptTimeoutMs: membershipAttemptTimeoutMs,
    });
    return res.members.map(memberInfo);
  }

  /** removeMember removes a voting member and resolves when the change is applied. */
  async removeMember(name: string, opts?: RequestOptions): Promise<MemberInfo[]> {
    const res = await this.pool.call((ep, o) => ep.cluster.removeMember({ name }, o), {
      safety: 'once',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs ?? Math.max(this.pool.retryBudgetMs, membershipAttemptTimeoutMs),
      attemptTimeoutMs: membershipAttemptTimeoutMs,
    });
    return res.members.map(memberInfo);
  }

  /** transferLeadership hands leadership to member `to` and resolves with the new leader's name. */
  async transferLeadership(to: string, opts?: RequestOptions): Promise<string> {
    const res = await this.pool.call((ep, o) => ep.cluster.transferLeadership({ to }, o), {
      safety: 'once',
      signal: opts?.signal,
      budgetMs: opts?.timeoutMs ?? Math.max(this.pool.retryBudgetMs, membershipAttemptTimeoutMs),
      attemptTimeoutMs: membershipAttemptTimeoutMs,
    });
    return res.leader;
  }

  /** createToken makes a bootstrap token: ID.SECRET (shown this once), what it is, and the CA
   *  hash a joining node pins. Retried only on UNAVAILABLE (at worst an unused second token,
   *  which expires). */
  async createToken(spec: { ttlSeconds: number; role: string; description: string; maxUses: number; user?: string }, opts?: RequestOptions): Promise<{ token: string; info: BootstrapToken; caHash: string }> {
    const res = await this.pool.call((ep, o) => ep.cluster.createToken(spec, o), { safety: 'once', signal: opts?.signal, budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs });
    if (res.info === undefined) throw new ApiError(Status.INTERNAL, 'create token: the answer has no token');
    return { token: res.token, info: res.info, caHash: res.caHash };
  }

  /** listTokens lists the bootstrap tokens, without their secrets. */
  async listTokens(opts?: RequestOptions): Promise<BootstrapToken[]> {
    const res = await this.pool.call((ep, o) => ep.cluster.listTokens({}, o), { safety: 'idempotent', signal: opts?.signal, budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs });
    return res.tokens;
  }

  /** deleteToken revokes a bootstrap token by its ID. */
  async deleteToken(id: string, opts?: RequestOptions): Promise<void> {
    await this.pool.call((ep, o) => ep.cluster.deleteToken({ id }, o), { safety: 'idempotent', signal: opts?.signal, budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs });
  }

  /** renewCertificate has the caller's own certificate signed again for the key of csrPem. */
  async renewCertificate(csrPem: string, opts?: RequestOptions): Promise<string> {
    const res = await this.pool.call((ep, o) => ep.cluster.renewCertificate({ csrPem }, o), { safety: 'idempotent', signal: opts?.signal, budgetMs: opts?.timeoutMs, attemptTimeoutMs: opts?.attemptTimeoutMs });
    return res.certificatePem;
  }
}
