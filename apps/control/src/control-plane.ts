/**
 * ControlPlane is one running tug-control member: a RaftNode whose state machine is the object
 * store (libs/store), and the tug.v1 API (proto/tug/v1/api.proto: ObjectService and
 * ClusterService) served on its API address.
 *
 * - Writes are proposed by the leader; any other member forwards them to the leader's API
 *   (one hop; a forwarded call is never forwarded again). A write waiting on a leader that
 *   steps down fails at once with UNAVAILABLE: the client retries with the same request id and
 *   the store answers the first outcome if it was applied after all.
 * - Reads are linearizable (ReadIndex) unless stale_ok; watches are served from local history.
 * - Housekeeping, every `housekeepingMs` and on every leadership change: the leader creates the
 *   initial objects (the `default` Namespace) when missing, keeps its own directory record
 *   (where it serves the API), drops records of members that left and releases service
 *   allocations no Service holds any more (after a Namespace deletion); a follower whose record
 *   is missing or stale asks the leader to write it.
 * - Leader-only loops (node-ipam-loop.ts: pod CIDRs for new Nodes) run while this member leads,
 *   through a client of its own API.
 * - Ready (ClusterService.Health) once a leader is known whose API address is known, and the
 *   initial objects exist.
 * - Bounds: requests larger than the store's command limit are refused (RESOURCE_EXHAUSTED,
 *   by grpc-js for whole messages); at most `maxInflightWrites` writes wait on Raft and at most
 *   `maxWatches` watches are open at once (RESOURCE_EXHAUSTED beyond); a write without a
 *   deadline gets `writeTimeoutMs`.
 * - close(): hands leadership to another member (bounded), ends watches with UNAVAILABLE (the
 *   client resumes elsewhere), fails waiting writes with UNAVAILABLE, stops the API server and
 *   closes the Raft node.
 */
import type { Logger } from 'pino';
import { initialObjects } from '@tugboat/api';
import type { Service } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import {
  ClusterService,
  GrpcError,
  ObjectService,
  Server,
  Status,
  addService,
  bindServer,
  createClient,
  isGrpcError,
  shutdownServer,
} from '@tugboat/proto';
import type { CallContext, ControlMemberSchema, ServiceClient } from '@tugboat/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { RaftNode, isNotLeaderError, isRaftStoppedError } from '@tugboat/raft';
import type { RaftNodeStatus, StateChange } from '@tugboat/raft';
import { ObjectStore, ReplicatedStore, encodeCommand, isStoreError, maxCommandBytes, unwrapApplyResult } from '@tugboat/store';
import type { Command, ObjectRef, Op, StoredObject, WatchEvent } from '@tugboat/store';
import { clusterService, publishOnlyMetadataKey } from './api/cluster.ts';
import { apiAddressOf, clusterScopedKinds, memberKind, memberObject, readMember } from './api/directory.ts';
import type { MemberRecord } from './api/directory.ts';
import { raftNodeOptions } from './member-options.ts';
import type { RaftMemberOptions } from './member-options.ts';
import { toGrpcError } from './api/errors.ts';
import type { WriteVerb } from './api/errors.ts';
import { objectService } from './api/objects.ts';
import { ALLOCATION_KIND, orphanedAllocations } from './api/service-allocation.ts';
import type { ObjectBackend } from './api/objects.ts';
import { NodeIpamLoop } from './node-ipam-loop.ts';
import { LeaderLoops } from '@tugboat/controllers';
import type { ControllerSettings } from '@tugboat/controllers';
import { controllers } from './controllers.ts';

/** forwardedMetadataKey marks a call one member forwarded to another (value: the sender's name). */
export const forwardedMetadataKey = 'tug-forwarded';

export interface ControlPlaneOptions extends RaftMemberOptions {
  /** Idle time before a progress_notify watch gets a BOOKMARK, ms. Default 1,000. */
  readonly bookmarkIntervalMs?: number;
  /** Timeout of a write or linearizable read whose call has no deadline, ms. Default 10,000. */
  readonly writeTimeoutMs?: number;
  /** Most writes waiting on Raft at once. Default 10,000. */
  readonly maxInflightWrites?: number;
  /** Most open watches. Default 10,000. */
  readonly maxWatches?: number;
  /** Housekeeping period, ms. Default 500. */
  readonly housekeepingMs?: number;
  /** Most events the store keeps for watches. Default: the store's (100,000). */
  readonly historyMaxEvents?: number;
  /** Tunables of the leader-only control loops. Default: DEFAULT_CONTROLLER_SETTINGS. */
  readonly controllerSettings?: ControllerSettings;
}

/** maxRequestBytes is the largest request message the API accepts (grpc-js answers RESOURCE_EXHAUSTED beyond). */
export const maxRequestBytes = maxCommandBytes + 64 * 1024;

type MemberInit = MessageInitShape<typeof ControlMemberSchema>;

interface PeerClients {
  readonly objects: ServiceClient<typeof ObjectService>;
  readonly cluster: ServiceClient<typeof ClusterService>;
}

/** remainingMs is how long a call may still take: until its deadline (at most `capMs`), else `defMs`. */
export function remainingMs(ctx: CallContext, defMs: number, capMs = 60_000): number {
  const d = ctx.deadline;
  const at = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(at)) return defMs;
  return Math.max(1, Math.min(capMs, at - Date.now()));
}

/** unreachableReason says briefly why a call to another member failed. */
export function unreachableReason(err: unknown): string {
  if (!isGrpcError(err)) return err instanceof Error ? err.message : String(err);
  const refused = /connect (E[A-Z]+)/.exec(err.message);
  if (refused !== null) return `cannot connect (${refused[1]})`;
  if (err.code === Status.DEADLINE_EXCEEDED) return 'no answer in time';
  return `${err.codeName}: ${err.message.replace(/\s*Resolution note:.*$/s, '')}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ControlPlane implements ObjectBackend {
  readonly name: string;
  readonly clusterId: string;
  readonly apiAddress: string;
  readonly peerAddress: string;
  readonly node: RaftNode;
  readonly store: ObjectStore;
  readonly replicated: ReplicatedStore;
  /** Resolves when the Raft node stops: undefined after close, the error after a fatal failure. */
  readonly stopped: Promise<Error | undefined>;
  readonly bookmarkIntervalMs: number;
  readonly log: Logger;

  private readonly server: Server;
  private readonly writeTimeoutMs: number;
  private readonly maxInflightWrites: number;
  private readonly maxWatches: number;
  private readonly controllerSettings: ControllerSettings | undefined;
  private readonly peers = new Map<string, PeerClients>();
  /** Rejecters of writes waiting on this member as leader; failed at once when it steps down. */
  private readonly inflight = new Set<(e: GrpcError) => void>();
  private readonly closingController = new AbortController();
  private readonly stateWaiters = new Set<() => void>();
  private openWatches = 0;
  private role: StateChange['role'] = 'follower';
  private housekeepingTimer: NodeJS.Timeout | undefined;
  private housekeepingRunning = false;
  private housekeepingFailures = 0;
  private leaderLoops: { client: TugClient; nodeIpam: NodeIpamLoop; loops: LeaderLoops } | undefined;
  private closed: Promise<void> | undefined;

  private constructor(opts: ControlPlaneOptions, node: RaftNode, store: ObjectStore, server: Server) {
    this.name = opts.name;
    this.clusterId = opts.clusterId;
    this.apiAddress = opts.advertiseApi;
    this.peerAddress = opts.advertisePeer;
    this.node = node;
    this.store = store;
    this.replicated = new ReplicatedStore({ raft: node, store });
    this.stopped = node.stopped;
    this.log = opts.logger;
    this.server = server;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1_000;
    this.writeTimeoutMs = opts.writeTimeoutMs ?? 10_000;
    this.maxInflightWrites = opts.maxInflightWrites ?? 10_000;
    this.maxWatches = opts.maxWatches ?? 10_000;
    this.controllerSettings = opts.controllerSettings;
  }

  /** start recovers or creates the Raft node, then serves the API. */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const store = new ObjectStore({
      clusterScopedKinds,
      ...(opts.historyMaxEvents === undefined ? {} : { historyMaxEvents: opts.historyMaxEvents }),
    });
    const node = await RaftNode.start({ ...raftNodeOptions(opts, store), requestTimeoutMs: 15_000 });
    const server = new Server({ 'grpc.max_receive_message_length': maxRequestBytes });
    const plane = new ControlPlane(opts, node, store, server);
    const onInternalError = (err: unknown, method: { name: string }): void => opts.logger.error({ err, method: method.name }, 'api: internal error');
    addService(server, ObjectService, objectService(plane), { onInternalError });
    addService(server, ClusterService, clusterService(plane), { onInternalError });
    try {
      await bindServer(server, opts.listenApi);
    } catch (err) {
      await node.close();
      throw new Error(`cannot serve the API on ${opts.listenApi}: ${(err as Error).message}`, { cause: err });
    }
    node.onStateChange((s) => plane.onStateChange(s));
    plane.role = node.status().role;
    plane.housekeepingTimer = setInterval(() => void plane.housekeep(), opts.housekeepingMs ?? 500);
    plane.housekeepingTimer.unref();
    void plane.housekeep();
    plane.startLeaderLoops();
    opts.logger.info(
      { api: opts.advertiseApi, peer: opts.advertisePeer, clusterId: opts.clusterId, revision: store.revision, objects: store.size },
      'serving the API',
    );
    return plane;
  }

  /** close shuts the member down (see the module comment). Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.housekeepingTimer);
      await this.leaderLoops?.nodeIpam.stop();
      await this.leaderLoops?.loops.stop();
      this.leaderLoops?.client.close();
      await this.handOverLeadership();
      this.closingController.abort();
      this.failInflight(new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; retry with the same request id`));
      await shutdownServer(this.server, 1_000);
      for (const c of this.peers.values()) {
        c.objects.close();
        c.cluster.close();
      }
      this.peers.clear();
      await this.node.close();
    })();
    return this.closed;
  }

  get closing(): boolean {
    return this.closingController.signal.aborted || this.closed !== undefined;
  }

  status(): RaftNodeStatus {
    return this.node.status();
  }

  /** ready: serving, a leader is known and reachable through its API, and the initial objects exist. */
  ready(): boolean {
    if (this.closing) return false;
    const st = this.node.status();
    if (st.leader === '') return false;
    if (st.leader !== this.name && apiAddressOf(this.store, st.leader) === '') return false;
    return this.store.get({ kind: 'Namespace', name: 'default' }) !== undefined;
  }

  // -------------------------------------------------------------------------------------------
  // ObjectBackend

  get revision(): number {
    return this.store.revision;
  }

  get(ref: ObjectRef): StoredObject | undefined {
    return this.store.get(ref);
  }

  list(kind: string, namespace: string | undefined): { items: readonly StoredObject[]; revision: number } {
    return this.store.list(namespace === undefined ? { kind } : { kind, namespace });
  }

  isLeader(): boolean {
    return this.role === 'leader' && !this.closing;
  }

  async propose(ops: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> {
    if (this.closing) throw new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; retry with the same request id`);
    if (this.inflight.size >= this.maxInflightWrites) {
      throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${this.name} has ${this.inflight.size} writes in flight, the most it takes; retry later`);
    }
    const cmd: Command = requestId === '' ? { ops } : { requestId, ops };
    let data: Uint8Array;
    try {
      data = encodeCommand(this.replicated.prepare(cmd));
    } catch (err) {
      if (isStoreError(err, 'Invalid') && /more than the limit/.test(err.message)) throw new GrpcError(Status.RESOURCE_EXHAUSTED, err.message);
      throw toGrpcError(err, verb, verb);
    }
    const timeoutMs = remainingMs(ctx, this.writeTimeoutMs);
    const result = await new Promise<unknown>((resolve, reject) => {
      let done = false;
      const fail = (e: GrpcError): void => {
        if (done) return;
        done = true;
        this.inflight.delete(fail);
        reject(e);
      };
      this.inflight.add(fail);
      this.node.propose(data, { timeoutMs }).then(
        (r) => {
          if (done) return;
          done = true;
          this.inflight.delete(fail);
          resolve(r.result);
        },
        (err: unknown) => fail(toGrpcError(err, verb, verb)),
      );
    });
    try {
      return unwrapApplyResult(result).objects;
    } catch (err) {
      throw toGrpcError(err, verb, verb);
    }
  }

  /**
   * readIndex confirms the read index with the leader and waits until it is applied here. When
   * the leader changes meanwhile (a read sent to a leader that died gets no answer) it asks
   * again; with no leader it waits for one, within the call's deadline.
   */
  async readIndex(ctx: CallContext): Promise<void> {
    const deadline = performance.now() + remainingMs(ctx, this.writeTimeoutMs);
    for (;;) {
      if (this.closing) throw new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; read at another member`);
      const left = deadline - performance.now();
      if (left <= 0) throw new GrpcError(Status.DEADLINE_EXCEEDED, `read at ${this.name}: the leader did not confirm the read in time`);
      if (this.node.status().leader === '') {
        await this.waitForLeader('', Math.min(left, 1_000));
        if (this.node.status().leader === '' && deadline - performance.now() <= 0) {
          throw new GrpcError(Status.UNAVAILABLE, `read at ${this.name}: no leader is known (election in progress); retry, or read with stale_ok`);
        }
        continue;
      }
      const change = this.nextStateChange();
      let timer: NodeJS.Timeout | undefined;
      try {
        const r = await Promise.race([
          this.node.readIndex().then(() => 'read' as const),
          change.promise.then(() => 'changed' as const),
          // A lost ReadIndex message costs one attempt, not the whole deadline.
          new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.min(left, 2_000)))),
        ]);
        if (r === 'read') return;
      } catch (err) {
        if (!isNotLeaderError(err)) throw toGrpcError(err, 'read');
        await this.waitForStateChange(Math.min(left, 50));
      } finally {
        clearTimeout(timer);
        change.cancel();
      }
    }
  }

  /**
   * forward runs a write on the leader (one hop). If the leader cannot be reached, or none is
   * known, it waits for a (new) leader and tries again within the call's deadline: the request
   * id makes that safe. Without a request id it tries once.
   */
  async forward(method: 'create' | 'update' | 'delete' | 'txn', req: unknown, ctx: CallContext): Promise<unknown> {
    const deadline = performance.now() + remainingMs(ctx, this.writeTimeoutMs);
    const retryable = (req as { requestId?: unknown }).requestId !== '';
    for (let attempt = 1; ; attempt++) {
      const left = deadline - performance.now();
      let c: ReturnType<ControlPlane['leaderClients']>;
      try {
        c = this.leaderClients(ctx, method);
      } catch (err) {
        const leader = this.node.status().leader;
        if (!retryable || left <= 0 || this.closing || leader === this.name || ctx.metadata.get(forwardedMetadataKey).length > 0) throw err;
        // No leader yet, or its API address is not known here yet (it records it as it starts to lead).
        if (leader === '') await this.waitForLeader('', Math.min(left, 1_000));
        else await this.waitForStateChange(Math.min(left, 50));
        continue;
      }
      try {
        const call = c.client.objects[method] as (r: unknown, o: object) => Promise<unknown>;
        return await call(req, { ...this.forwardOptions(ctx), timeoutMs: Math.max(1, left) });
      } catch (err) {
        const failure = this.forwardFailure(err, c.leader, c.api);
        if (!retryable || failure.code !== Status.UNAVAILABLE || attempt >= 5 || this.closing || ctx.signal.aborted) throw failure;
        const wait = Math.min(deadline - performance.now(), 2_000);
        if (wait <= 0) throw failure;
        await this.waitForLeader(c.leader, wait);
      }
    }
  }

  watch(opts: { fromRevision: number; kind: string; namespace?: string; signal: AbortSignal }): AsyncIterator<WatchEvent> & { readonly progressRevision: number } {
    return this.store.watch(opts);
  }

  watchStarted(): { signal: AbortSignal; done: () => void } {
    if (this.closing) throw new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; watch at another member`);
    if (this.openWatches >= this.maxWatches) throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${this.name} serves ${this.openWatches} watches, the most it takes`);
    this.openWatches++;
    let ended = false;
    return {
      signal: this.closingController.signal,
      done: () => {
        if (ended) return;
        ended = true;
        this.openWatches--;
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Membership and cluster calls (used by api/cluster.ts)

  /** selfInfo describes this member from its own state. */
  selfInfo(): MemberInit {
    const st = this.node.status();
    return {
      name: this.name,
      peerAddress: this.peerAddress,
      apiAddress: this.apiAddress,
      role: st.role,
      term: BigInt(st.term),
      commit: BigInt(st.commit),
      applied: BigInt(st.appliedIndex),
      leader: st.leader,
      reachable: true,
      error: '',
    };
  }

  /** membersInfo describes every voter: this member from its state, the others by asking them (MemberStatus). */
  async membersInfo(timeoutMs = 1_000): Promise<MemberInit[]> {
    const st = this.node.status();
    return Promise.all(
      st.membership.voters.map(async (v): Promise<MemberInit> => {
        if (v === this.name) return this.selfInfo();
        const peerAddress = st.membership.contexts[v] ?? '';
        const apiAddress = apiAddressOf(this.store, v);
        const down = (error: string): MemberInit => ({ name: v, peerAddress, apiAddress, role: 'unknown', reachable: false, error });
        if (apiAddress === '') return down('its API address is not known yet (it publishes it once it has a leader)');
        try {
          const res = await this.peerClients(apiAddress).cluster.memberStatus({}, { timeoutMs });
          if (res.member === undefined) return down('answered without a member');
          if (res.member.name !== v) return down(`${apiAddress} is member ${res.member.name}, not ${v}`);
          return { ...res.member, peerAddress, apiAddress, reachable: true, error: '' };
        } catch (err) {
          return down(unreachableReason(err));
        }
      }),
    );
  }

  /**
   * leaderClients returns the clients of the leader's API for forwarding `what`; UNAVAILABLE
   * when no leader is known, its API address is not, or the call was forwarded already.
   */
  leaderClients(ctx: CallContext, what: string): { client: PeerClients; leader: string; api: string } {
    if (this.closing) throw new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; retry at another member`);
    const leader = this.node.status().leader;
    if (ctx.metadata.get(forwardedMetadataKey).length > 0) {
      throw new GrpcError(Status.UNAVAILABLE, `${what}: ${this.name} is not the leader any more (leader now: ${leader || 'none'}); retry with the same request id`);
    }
    if (leader === '') throw new GrpcError(Status.UNAVAILABLE, `${what}: no leader is known (election in progress); retry with the same request id`);
    if (leader === this.name) throw new GrpcError(Status.UNAVAILABLE, `${what}: ${this.name} is becoming the leader; retry with the same request id`);
    const api = apiAddressOf(this.store, leader);
    if (api === '') throw new GrpcError(Status.UNAVAILABLE, `${what}: the leader ${leader}'s API address is not known here yet; retry shortly`);
    return { client: this.peerClients(api), leader, api };
  }

  /** forwardOptions are the call options of a forwarded call: the caller's deadline, signal, and the forwarded mark. */
  forwardOptions(ctx: CallContext, defMs = this.writeTimeoutMs): { timeoutMs: number; signal: AbortSignal; metadata: Record<string, string> } {
    return { timeoutMs: remainingMs(ctx, defMs), signal: ctx.signal, metadata: { [forwardedMetadataKey]: this.name } };
  }

  /** forwardFailure is what a caller gets when a forwarded call failed: the leader's answer, or UNAVAILABLE if it was not reached. */
  forwardFailure(err: unknown, leader: string, api: string): GrpcError {
    if (!isGrpcError(err)) return toGrpcError(err, 'forward');
    if (err.code === Status.UNAVAILABLE || err.code === Status.CANCELLED) {
      return new GrpcError(Status.UNAVAILABLE, `the leader ${leader} at ${api} did not answer (${err.message}); retry with the same request id`);
    }
    return new GrpcError(err.code, err.message);
  }

  /** upsertMember writes a directory record through Raft (leader only), unless it is as given already. */
  async upsertMember(r: MemberRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const cur = readMember(this.store, r.name);
      if (cur !== undefined && cur.apiAddress === r.apiAddress && cur.peerAddress === r.peerAddress) return;
      const op: Op =
        cur === undefined
          ? { op: 'create', object: memberObject(r) }
          : { op: 'update', object: memberObject(r), expectedResourceVersion: cur.resourceVersion };
      try {
        await this.proposeInternal([op]);
        this.log.info({ member: r.name, api: r.apiAddress, peer: r.peerAddress }, 'member directory: record written');
        return;
      } catch (err) {
        if (attempt >= 2 || !(isStoreError(err, 'AlreadyExists') || isStoreError(err, 'Conflict'))) throw err;
      }
    }
  }

  /** deleteMember removes a directory record (leader only); a missing one is fine. */
  async deleteMember(name: string): Promise<void> {
    const cur = readMember(this.store, name);
    if (cur === undefined) return;
    try {
      await this.proposeInternal([{ op: 'delete', ref: { kind: memberKind, name }, expectedResourceVersion: cur.resourceVersion }]);
      this.log.info({ member: name }, 'member directory: record removed');
    } catch (err) {
      if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
    }
  }

  /** releaseOrphanedAllocations deletes (at most 100 per round, each guarded by its resourceVersion) the service allocations no Service holds. */
  private async releaseOrphanedAllocations(): Promise<void> {
    const service = (namespace: string, name: string): Service | undefined => this.store.get({ kind: 'Service', namespace, name }) as Service | undefined;
    const orphans = orphanedAllocations(this.store.list({ kind: ALLOCATION_KIND }).items, service).slice(0, 100);
    if (orphans.length === 0) return;
    try {
      await this.proposeInternal(orphans.map((a): Op => ({ op: 'delete', ref: { kind: ALLOCATION_KIND, name: a.metadata.name }, expectedResourceVersion: a.metadata.resourceVersion })));
      this.log.info({ released: orphans.map((a) => a.metadata.name) }, 'released service allocations no Service holds');
    } catch (err) {
      // Another write got there first; the next round looks again.
      if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
    }
  }

  /** peerClients returns (making once) the clients of another member's API. */
  peerClients(api: string): PeerClients {
    let c = this.peers.get(api);
    if (c === undefined) {
      const channelOptions = { 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.max_send_message_length': maxRequestBytes };
      c = { objects: createClient(ObjectService, api, { channelOptions }), cluster: createClient(ClusterService, api, { channelOptions }) };
      this.peers.set(api, c);
    }
    return c;
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  /** startLeaderLoops starts the loops that run while this member leads (see the module comment). */
  private startLeaderLoops(): void {
    const client = new TugClient({ endpoints: [this.apiAddress] });
    const nodeIpam = new NodeIpamLoop({
      isLeader: () => this.isLeader(),
      onLeadershipChange: (listener) => this.node.onStateChange(listener),
      client,
      log: this.log.child({ loop: 'node-ipam' }),
    });
    nodeIpam.start();
    const loops = new LeaderLoops({
      controllers: controllers(),
      isLeader: () => this.isLeader(),
      onLeadershipChange: (listener) => this.node.onStateChange(listener),
      client,
      log: this.log.child({ part: 'control-loops' }),
      ...(this.controllerSettings === undefined ? {} : { settings: this.controllerSettings }),
    });
    loops.start();
    this.leaderLoops = { client, nodeIpam, loops };
  }

  /** proposeInternal writes the control plane's own objects (leader only); throws StoreError or driver errors. */
  private async proposeInternal(ops: readonly Op[]): Promise<void> {
    const { result } = await this.node.propose(encodeCommand(this.replicated.prepare({ ops })), { timeoutMs: 5_000 });
    unwrapApplyResult(result);
  }

  /** nextStateChange resolves on the next role, leader or term change; cancel() stops waiting. */
  private nextStateChange(): { promise: Promise<void>; cancel: () => void } {
    let fire!: () => void;
    const promise = new Promise<void>((resolve) => (fire = resolve));
    this.stateWaiters.add(fire);
    return { promise, cancel: () => this.stateWaiters.delete(fire) };
  }

  /** waitForStateChange waits for the next role, leader or term change, or `ms`. */
  private async waitForStateChange(ms: number): Promise<void> {
    const change = this.nextStateChange();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([change.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    change.cancel();
  }

  /** waitForLeader waits until a leader other than `not` is known, or `ms` passed. */
  private async waitForLeader(not: string, ms: number): Promise<void> {
    const until = performance.now() + ms;
    for (;;) {
      const leader = this.node.status().leader;
      if ((leader !== '' && leader !== not) || this.closing) return;
      const left = until - performance.now();
      if (left <= 0) return;
      const change = this.nextStateChange();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([change.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(left, 100))))]);
      clearTimeout(timer);
      change.cancel();
    }
  }

  private onStateChange(s: StateChange): void {
    const waiters = [...this.stateWaiters];
    this.stateWaiters.clear();
    for (const w of waiters) w();
    const was = this.role;
    this.role = s.role;
    if (was === 'leader' && s.role !== 'leader') {
      this.failInflight(new GrpcError(Status.UNAVAILABLE, `${this.name} lost leadership before the write was applied; retry with the same request id`));
    }
    if (s.role !== was || s.leader !== '') setImmediate(() => void this.housekeep());
  }

  private failInflight(e: GrpcError): void {
    const rejecters = [...this.inflight];
    this.inflight.clear();
    for (const r of rejecters) r(e);
  }

  /** housekeep runs one round of the duties in the module comment; one round at a time. */
  private async housekeep(): Promise<void> {
    if (this.housekeepingRunning || this.closing) return;
    this.housekeepingRunning = true;
    try {
      const st = this.node.status();
      if (st.leader === '') return;
      const self: MemberRecord = { name: this.name, peerAddress: this.peerAddress, apiAddress: this.apiAddress };
      const mine = readMember(this.store, this.name);
      const recordOk = mine !== undefined && mine.apiAddress === self.apiAddress && mine.peerAddress === self.peerAddress;
      if (st.role === 'leader') {
        if (!recordOk) await this.upsertMember(self);
        for (const o of initialObjects()) {
          if (this.store.get({ kind: o.kind, name: o.metadata.name ?? '' }) !== undefined) continue;
          try {
            await this.proposeInternal([{ op: 'create', object: o }]);
            this.log.info({ kind: o.kind, name: o.metadata.name }, 'created initial object');
          } catch (err) {
            if (!isStoreError(err, 'AlreadyExists')) throw err;
          }
        }
        const voters = new Set(st.membership.voters);
        for (const r of this.store.list({ kind: memberKind }).items) {
          if (!voters.has(r.metadata.name)) await this.deleteMember(r.metadata.name);
        }
        await this.releaseOrphanedAllocations();
      } else if (!recordOk && st.membership.voters.includes(this.name)) {
        const api = apiAddressOf(this.store, st.leader);
        if (api === '') return;
        await this.peerClients(api).cluster.addMember(self, { timeoutMs: 5_000, metadata: { [forwardedMetadataKey]: this.name, [publishOnlyMetadataKey]: '1' } });
        this.log.info({ leader: st.leader }, 'member directory: asked the leader to record this member');
      }
      this.housekeepingFailures = 0;
    } catch (err) {
      if (this.closing || isRaftStoppedError(err)) return;
      this.housekeepingFailures++;
      if (this.housekeepingFailures === 1 || this.housekeepingFailures % 20 === 0) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err), failures: this.housekeepingFailures }, 'housekeeping failed; retrying');
      }
      await sleep(Math.min(2_000, 50 * 2 ** Math.min(this.housekeepingFailures, 6)));
    } finally {
      this.housekeepingRunning = false;
    }
  }

  /** handOverLeadership moves leadership to another voter before shutting down, if this member leads (bounded, best effort). */
  private async handOverLeadership(): Promise<void> {
    const st = this.node.status();
    if (st.role !== 'leader') return;
    const others = st.membership.voters.filter((v) => v !== this.name);
    if (others.length === 0) return;
    const to = others[0]!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.node.transferLeadership(to),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), 1_000);
        }),
      ]);
      this.log.info({ to }, 'handed leadership over before shutting down');
    } catch (err) {
      this.log.info({ to, err: err instanceof Error ? err.message : String(err) }, 'could not hand leadership over before shutting down');
    } finally {
      clearTimeout(timer);
    }
  }
}
