/**
 * The real API services over an in-memory store, for tests of everything that talks to the API
 * (the client, the CLI, the scheduler, the controllers, the agent): `@tugboat/apiserver/testing`.
 *
 * TestApi is one control member that is always the leader: ObjectService and ClusterService are
 * the very ones tug-control serves (objects.ts, cluster.ts), over an ObjectStore whose writes go
 * through ReplicatedStore to a LocalLog that applies them at once. Membership is a list the test
 * sets (`members`): there is no Raft here. One TestApi may be served by several TestApiServers,
 * each standing for a member behind its own address: stop one and the others go on serving.
 *
 * Around the services sits a thin layer for tests: every call is recorded (`calls`), and faults
 * can be injected: failNext() fails the next calls of a method (before, or after applying a
 * write: a lost answer), breakWatches() ends every open watch as a member shutting down does,
 * and watchFault breaks the next watch streams after a number of events.
 */
import pino from 'pino';
import { applyDefaults, initialObjects } from '@tugboat/api';
import {
  ClusterService,
  GrpcError,
  ObjectService,
  Server,
  Status,
  addService,
  bindServer,
  isGrpcError,
  shutdownServer,
  statusName,
} from '@tugboat/proto';
import type { CallContext, ServiceImpl, StatusCode } from '@tugboat/proto';
import type { EncryptionKey } from '@tugboat/pki';
import { LocalLog, ObjectStore, ReplicatedStore, unwrapApplyResult } from '@tugboat/store';
import type { ObjectRef, Op, StoredObject, WatchEvent } from '@tugboat/store';
import { clusterService } from './cluster.ts';
import type { ClusterBackend, MemberInfo, MemberRecord } from './cluster.ts';
import { toGrpcError } from './errors.ts';
import type { WriteVerb } from './errors.ts';
import { NOT_COUNTED, apiClusterScopedKinds, objectService } from './objects.ts';
import type { ObjectBackend } from './objects.ts';
import { WatchSlots } from './watch-slots.ts';
import type { CertificateAuthority } from './join.ts';
import { ReplicatedTokens } from './token-store.ts';

/** TestMember is one member as ClusterService reports it (numbers instead of the wire's bigints). */
export interface TestMember {
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
  rssBytes?: number;
  heapUsedBytes?: number;
  heapTotalBytes?: number;
  externalBytes?: number;
}

/** TestCall records one call a TestApiServer answered. */
export interface TestCall {
  readonly endpoint: string;
  readonly method: string;
  /** requestId of a write ("" for reads). */
  readonly requestId: string;
  /** code the call ended with, by name ("OK", "UNAVAILABLE", ...). Watches record how they opened. */
  readonly code: string;
}

/** TestFault fails calls of one method (and optionally one endpoint). */
export interface TestFault {
  readonly method: string;
  readonly code: StatusCode;
  readonly message?: string;
  /** times to fail; default 1. */
  readonly times?: number;
  /** endpoint limits the fault to one TestApiServer address. */
  readonly endpoint?: string;
  /** afterApply runs the call first, then fails it (a write applied whose answer is lost). */
  readonly afterApply?: boolean;
}

const selfName = 'test-api';

export class TestApi implements ObjectBackend, ClusterBackend {
  /** calls lists every call answered, oldest first. */
  readonly calls: TestCall[] = [];
  /** members is what ClusterService reports and changes; tests may set it. */
  members: TestMember[] = [];
  readonly clusterId = 'test-cluster';
  readonly log = pino({ level: 'silent' });
  /** watchFault, when set, makes each new watch stream fail with `code` after `afterEvents`
   *  events; `times` streams are affected (default 1), then it clears itself. */
  watchFault: { afterEvents: number; code?: StatusCode; times?: number } | undefined;
  /** bookmarkIntervalMs: how often progress_notify watches get a BOOKMARK while idle. */
  bookmarkIntervalMs = 200;
  readonly store = new ObjectStore({ clusterScopedKinds: apiClusterScopedKinds });
  /** secretKeys seal Secrets at rest (ObjectBackend.secretKeys); none by default. Tests may set them. */
  secretKeys: readonly EncryptionKey[];

  private readonly localLog = new LocalLog(this.store);
  private readonly writes = new ReplicatedStore({ log: this.localLog });
  readonly tokens = new ReplicatedTokens(this.store, async (ops) => {
    this.write(ops);
  });
  /** maxObjectsPerNamespace: the namespaces' bound; tests may lower it. */
  maxObjectsPerNamespace = 100_000;
  /** authority is the CA ClusterService signs with; tests set it (none: as without TLS). */
  authority: CertificateAuthority | undefined;
  private readonly slots = new WatchSlots(selfName, 10_000);
  private faults: (TestFault & { left: number })[] = [];

  constructor(opts: { empty?: boolean; secretKeys?: readonly EncryptionKey[] } = {}) {
    this.secretKeys = opts.secretKeys ?? [];
    if (opts.empty !== true) for (const o of initialObjects()) this.seed(o);
  }

  // -------------------------------------------------------------------------------------------
  // For tests

  /** revision is the store revision: the last write's. */
  get revision(): number {
    return this.store.revision;
  }

  /** openWatches is the number of watch streams open now. */
  get openWatches(): number {
    return this.slots.open;
  }

  /** seed writes an object as a create would (defaults and server fields), without admission. */
  seed(obj: unknown): StoredObject {
    return this.write([{ op: 'create', object: applyDefaults(obj) as never }])[0]!;
  }

  /** write applies store ops at once, past admission (as a controller of another kind would); throws StoreError. */
  write(ops: readonly Op[]): (StoredObject | null)[] {
    return [...unwrapApplyResult(this.localLog.applyNow(this.writes.encode(ops))).objects];
  }

  /** object returns a copy of the stored object, or undefined. */
  object(kind: string, namespace: string, name: string): StoredObject | undefined {
    const o = this.store.get(namespace === '' ? { kind, name } : { kind, namespace, name });
    return o === undefined ? undefined : structuredClone(o);
  }

  /** compact drops the watch history: a watch from an earlier revision gets OUT_OF_RANGE. */
  compact(): void {
    this.store.history.reset(this.store.revision);
  }

  /** failNext makes the next matching calls fail (see TestFault). */
  failNext(fault: TestFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** breakWatches ends every open watch stream with UNAVAILABLE, as a member shutting down does. */
  breakWatches(): void {
    this.slots.endAll(false);
  }

  takeFault(method: string, endpoint: string): TestFault | undefined {
    const f = this.faults.find((x) => x.method === method && (x.endpoint === undefined || x.endpoint === endpoint));
    if (f === undefined) return undefined;
    if (--f.left <= 0) this.faults = this.faults.filter((x) => x !== f);
    return f;
  }

  record(endpoint: string, method: string, requestId: string, code: number): void {
    this.calls.push({ endpoint, method, requestId, code: statusName(code as StatusCode) });
  }

  // -------------------------------------------------------------------------------------------
  // ObjectBackend: one member, always the leader, every write applied before it is answered.

  get name(): string {
    return this.members.find((m) => m.role === 'leader')?.name ?? selfName;
  }

  get(ref: ObjectRef): StoredObject | undefined {
    return this.store.get(ref);
  }

  list(kind: string, namespace: string | undefined): { items: readonly StoredObject[]; revision: number } {
    return this.store.list(namespace === undefined ? { kind } : { kind, namespace });
  }

  isLeader(): boolean {
    return true;
  }

  async propose(ops: readonly Op[], requestId: string, _ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> {
    try {
      return (await this.writes.write(ops, { requestId })).objects;
    } catch (err) {
      throw toGrpcError(err, verb, verb);
    }
  }

  async readIndex(): Promise<void> {}

  certificateAuthority(): CertificateAuthority | undefined {
    return this.authority;
  }

  forward(): Promise<unknown> {
    throw new GrpcError(Status.INTERNAL, 'the test API is always the leader; nothing is forwarded');
  }

  watch(opts: { fromRevision: number; kind: string; namespace?: string; signal: AbortSignal }): AsyncIterator<WatchEvent> & { readonly progressRevision: number } {
    return this.store.watch(opts);
  }

  namespaceSize(namespace: string): number {
    return this.store.namespaceSize(namespace, NOT_COUNTED);
  }

  watchStarted(): { signal: AbortSignal; done: () => void } {
    return this.slots.take();
  }

  // -------------------------------------------------------------------------------------------
  // ClusterBackend: membership is the `members` list.

  ready(): boolean {
    return true;
  }

  selfInfo(): MemberInfo {
    const self = this.members.find((m) => m.name === this.name);
    return self === undefined ? { name: selfName, role: 'leader', leader: selfName, reachable: true } : wire(self);
  }

  async membersInfo(): Promise<MemberInfo[]> {
    return this.members.map(wire);
  }

  membership(): { voters: string[]; contexts: Record<string, string> } {
    return { voters: this.members.map((m) => m.name), contexts: Object.fromEntries(this.members.map((m) => [m.name, m.peerAddress])) };
  }

  async addVoter(name: string, peerAddress: string): Promise<void> {
    const leader = this.members.find((m) => m.role === 'leader');
    this.members.push({
      name,
      peerAddress,
      apiAddress: '',
      role: 'follower',
      term: leader?.term ?? 1,
      commit: 0,
      applied: 0,
      leader: leader?.name ?? '',
      reachable: false,
      error: 'not started yet',
    });
  }

  async removeVoter(name: string): Promise<void> {
    this.members = this.members.filter((m) => m.name !== name);
  }

  async transferLeadership(to: string): Promise<string> {
    for (const m of this.members) {
      m.role = m.name === to ? 'leader' : 'follower';
      m.leader = to;
    }
    return to;
  }

  async recordMember(r: MemberRecord): Promise<void> {
    const m = this.members.find((x) => x.name === r.name);
    if (m !== undefined) m.apiAddress = r.apiAddress;
  }

  async forgetMember(): Promise<void> {}

  forwardToLeader<T>(): Promise<T> {
    throw new GrpcError(Status.INTERNAL, 'the test API is always the leader; nothing is forwarded');
  }
}

function wire(m: TestMember): MemberInfo {
  return {
    ...m,
    term: BigInt(m.term),
    commit: BigInt(m.commit),
    applied: BigInt(m.applied),
    rssBytes: BigInt(m.rssBytes ?? 0),
    heapUsedBytes: BigInt(m.heapUsedBytes ?? 0),
    heapTotalBytes: BigInt(m.heapTotalBytes ?? 0),
    externalBytes: BigInt(m.externalBytes ?? 0),
  };
}

function injected(f: TestFault, after: boolean): GrpcError {
  return new GrpcError(f.code, f.message ?? `injected ${statusName(f.code)}${after ? ' after applying' : ''}`);
}

type Handler = (req: unknown, ctx: CallContext) => unknown;

/**
 * withTestHooks wraps each method of a service: the call is recorded, and a fault for it (if
 * any) fails it before or after it runs. Watch streams also honour `watchFault`.
 */
function withTestHooks<I extends object>(impl: I, api: TestApi, endpoint: () => string): I {
  const out: Record<string, Handler> = {};
  for (const [method, fn] of Object.entries(impl) as [string, Handler][]) {
    if (method === 'watch') {
      out[method] = (req, ctx) => hookedWatch(fn(req, ctx) as AsyncGenerator<{ type: string }>, api, endpoint());
      continue;
    }
    out[method] = async (req, ctx) => {
      const requestId = (req as { requestId?: unknown }).requestId;
      const id = typeof requestId === 'string' ? requestId : '';
      const fault = api.takeFault(method, endpoint());
      try {
        if (fault !== undefined && fault.afterApply !== true) throw injected(fault, false);
        const res = await fn(req, ctx);
        if (fault !== undefined) throw injected(fault, true);
        api.record(endpoint(), method, id, Status.OK);
        return res;
      } catch (err) {
        api.record(endpoint(), method, id, isGrpcError(err) ? err.code : Status.INTERNAL);
        throw err;
      }
    };
  }
  return out as I;
}

async function* hookedWatch<E extends { type: string }>(stream: AsyncGenerator<E>, api: TestApi, endpoint: string): AsyncGenerator<E> {
  const fault = api.takeFault('watch', endpoint);
  if (fault !== undefined) {
    api.record(endpoint, 'watch', '', fault.code);
    throw injected(fault, false);
  }
  api.record(endpoint, 'watch', '', Status.OK);
  let breakAfter: { left: number; code: StatusCode } | undefined;
  const wf = api.watchFault;
  if (wf !== undefined) {
    breakAfter = { left: wf.afterEvents, code: wf.code ?? Status.UNAVAILABLE };
    const times = (wf.times ?? 1) - 1;
    api.watchFault = times > 0 ? { ...wf, times } : undefined;
  }
  try {
    for await (const ev of stream) {
      if (ev.type !== 'BOOKMARK' && breakAfter !== undefined && breakAfter.left-- <= 0) throw new GrpcError(breakAfter.code, 'watch broken by the test');
      yield ev;
    }
  } finally {
    await stream.return(undefined);
  }
}

/** TestApiServer serves a TestApi's services over gRPC on 127.0.0.1. */
export class TestApiServer {
  readonly api: TestApi;
  readonly address: string;
  private readonly server: Server;
  private stopped = false;

  private constructor(api: TestApi, server: Server, address: string) {
    this.api = api;
    this.server = server;
    this.address = address;
  }

  static async start(api: TestApi, port = 0): Promise<TestApiServer> {
    const server = new Server();
    let address = '';
    const endpoint = (): string => address;
    addService(server, ObjectService, withTestHooks(objectService(api), api, endpoint) as ServiceImpl<typeof ObjectService>);
    addService(server, ClusterService, withTestHooks(clusterService(api), api, endpoint) as ServiceImpl<typeof ClusterService>);
    const bound = await bindServer(server, `127.0.0.1:${port}`);
    address = `127.0.0.1:${bound}`;
    return new TestApiServer(api, server, address);
  }

  /** stop shuts the server down at once (open streams break, as when a member dies). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.server.forceShutdown();
    await shutdownServer(this.server, 0).catch(() => undefined);
  }
}
