/**
 * ControlPlane is one running tug-control member: a RaftNode whose state machine is the object
 * store (libs/store), and the tug.v1 API (proto/tug/v1/api.proto: ObjectService and
 * ClusterService, from @tugboat/apiserver) served on its API address over the two backends
 * this class implements, with ForwardService (forward.proto), by which the other members pass
 * their writes on to the leader in batches. It only wires the parts, each in its own module:
 *
 * - leadership.ts: this member's role, waiting for a (new) leader, hand-over on close;
 * - raft-writes.ts: the leader's writes through Raft (bound, timeouts, fail on step-down);
 * - read-index.ts: linearizable reads (unless stale_ok); watches are served from local history;
 * - forwarding.ts: writes and membership calls of a follower, to the leader's API (one hop);
 * - member-directory.ts: where each member serves the API, in the replicated store;
 * - housekeeping.ts: initial objects, directory records, orphaned service allocations;
 * - leader-only-loops.ts: controllers and node IPAM, through a client of this member's API.
 * - Secrets at rest: ObjectService seals them with `secretKeys` before they are proposed and
 *   opens them on every read (@tugboat/apiserver, secret-encryption.ts), so the store, the Raft
 *   log and the snapshots hold only ciphertext.
 *
 * - Ready (ClusterService.Health) once a leader is known whose API address is known, and the
 *   initial objects exist.
 * - Bounds: requests larger than the store's command limit are refused (RESOURCE_EXHAUSTED,
 *   by grpc-js for whole messages); at most `maxInflightWrites` writes wait on Raft and at most
 *   `maxWatches` watches are open at once (RESOURCE_EXHAUSTED beyond); a write or linearizable
 *   read without a deadline gets `writeTimeoutMs`; each client's request rate and open watches
 *   are bounded (ClientLimits), and so are the objects of a namespace.
 * - close(): stops housekeeping and the leader-only loops, hands leadership to another member
 *   (bounded), ends watches with UNAVAILABLE (the client resumes elsewhere), fails waiting
 *   writes with UNAVAILABLE, stops the API server and closes the Raft node.
 */
import type { Logger } from 'pino';
import { CertificateRenewal, TugClient } from '@tugboat/client';
import type { TlsFiles, TlsMaterial } from '@tugboat/pki';
import { ClusterService, ForwardService, GrpcError, ObjectService, Server, Status, addService, bindServer, hasCertificate, inProcessClient, logRefusals, methodPath, serverCredentials, shutdownServer } from '@tugboat/proto';
import type { CallContext, ServiceClient } from '@tugboat/proto';
import { RaftNode } from '@tugboat/raft';
import { ObjectStore, ReplicatedStore, maxCommandBytes } from '@tugboat/store';
import type { ObjectRef, Op, StoredObject, WatchEvent } from '@tugboat/store';
import { ClientLimits, DEFAULT_CLIENT_LIMITS, NOT_COUNTED, ReplicatedTokens, WatchSlots, bearerIdentity, clusterService, forwardService, objectService, withCallGuard } from '@tugboat/apiserver';
import type { CertificateAuthority, ClientLimitsOptions, ClusterBackend, ForwardOptions, MemberInfo, MemberRecord, ObjectBackend, WriteVerb } from '@tugboat/apiserver';
import type { ControllerSettings } from '@tugboat/controllers';
import type { EncryptionKey } from '@tugboat/pki';
import { Forwarding } from './forwarding.ts';
import type { ObjectWrite } from './forwarding.ts';
import { Housekeeping } from './housekeeping.ts';
import { startLeaderOnlyLoops } from './leader-only-loops.ts';
import type { RunningLoops } from './leader-only-loops.ts';
import { Leadership } from './leadership.ts';
import { MemberDirectory, clusterScopedKinds } from './member-directory.ts';
import { raftNodeOptions } from './member-options.ts';
import type { RaftMemberOptions } from './member-options.ts';
import { RaftWrites } from './raft-writes.ts';
import { ReadIndex } from './read-index.ts';

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
  /** enabledLoops tells which leader-only loops run, by name (LOOP_NAMES). Default: all. */
  readonly enabledLoops?: (name: string) => boolean;
  /** certificateAuthority: the cluster CA, with its key when this member signs joins and
   *  renewals. Default: the CA of `security` without a key (none without TLS). */
  readonly certificateAuthority?: CertificateAuthority;
  /** limits: what one client may take (ClientLimits); default DEFAULT_CLIENT_LIMITS. */
  readonly clientLimits?: ClientLimitsOptions;
  /** Most objects a namespace holds, Events not counted. Default 100,000. */
  readonly maxObjectsPerNamespace?: number;
  /** certificateFiles: where this member's certificate and key are kept; given, the member
   *  renews its certificate there before it expires (through its own API, so it needs the CA key). */
  readonly certificateFiles?: TlsFiles;
  /** secretKeys seal Secrets at rest (--encryption-key-file): the first seals, every one opens. Default: none, stored in clear. */
  readonly secretKeys?: readonly EncryptionKey[];
}

/** maxRequestBytes is the largest request message the API accepts (grpc-js answers RESOURCE_EXHAUSTED beyond). */
export const maxRequestBytes = maxCommandBytes + 64 * 1024;

/** OPEN_CALLS are served without a client certificate: a joining node has none yet (its
 *  bootstrap token is checked by the call itself), and calls with an API token (the guard
 *  checks it) reach the object and cluster services. */
const OPEN_CALLS = {
  methods: [methodPath(ClusterService.method.caCertificate), methodPath(ClusterService.method.join)],
  bearerServices: [ObjectService.typeName, ClusterService.typeName],
};

/** memberStatusTimeoutMs bounds the MemberStatus call to each other member in membersInfo. */
const memberStatusTimeoutMs = 1_000;

/** renewCertificate renews the member's certificate in files before it expires, asking its
 *  own API to sign (see @tugboat/client's CertificateRenewal). */
function renewCertificate(security: { readonly tls: TlsMaterial }, files: TlsFiles, api: string, log: Logger): { stop(): void } {
  const client = new TugClient({ endpoints: [api], security });
  const renewal = new CertificateRenewal({ security, files, renew: (csr) => client.cluster.renewCertificate(csr), log });
  renewal.start();
  return {
    stop: () => {
      renewal.stop();
      client.close();
    },
  };
}

export class ControlPlane implements ObjectBackend, ClusterBackend {
  readonly name: string;
  readonly clusterId: string;
  /** Resolves when the Raft node stops: undefined after close, the error after a fatal failure. */
  readonly stopped: Promise<Error | undefined>;
  readonly bookmarkIntervalMs: number;
  readonly log: Logger;
  readonly tokens: ReplicatedTokens;
  readonly maxObjectsPerNamespace: number;
  readonly secretKeys: readonly EncryptionKey[];

  private readonly self: MemberRecord;
  private readonly authority: CertificateAuthority | undefined;
  private readonly node: RaftNode;
  private readonly store: ObjectStore;
  private readonly server: Server;
  private readonly leadership: Leadership;
  private readonly writes: RaftWrites;
  private readonly reads: ReadIndex;
  private readonly directory: MemberDirectory;
  private readonly forwarding: Forwarding;
  private readonly housekeeping: Housekeeping;
  private readonly watches: WatchSlots;
  private readonly limits: ClientLimits;
  private leaderLoops: RunningLoops | undefined;
  private renewal: { stop(): void } | undefined;
  private closed: Promise<void> | undefined;

  private constructor(opts: ControlPlaneOptions, node: RaftNode, store: ObjectStore, server: Server) {
    this.name = opts.name;
    this.clusterId = opts.clusterId;
    this.self = { name: opts.name, peerAddress: opts.advertisePeer, apiAddress: opts.advertiseApi };
    this.node = node;
    this.store = store;
    this.stopped = node.stopped;
    this.log = opts.logger;
    this.server = server;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1_000;
    this.secretKeys = opts.secretKeys ?? [];
    const writeTimeoutMs = opts.writeTimeoutMs ?? 10_000;
    this.leadership = new Leadership(opts.name, node, opts.logger);
    this.writes = new RaftWrites({
      member: this.leadership,
      store: new ReplicatedStore({ log: node }),
      timeoutMs: writeTimeoutMs,
      maxInflight: opts.maxInflightWrites ?? 10_000,
    });
    const write = (ops: readonly Op[]): Promise<void> => this.writes.writeInternal(ops);
    this.tokens = new ReplicatedTokens(store, write);
    this.authority = opts.certificateAuthority ?? (hasCertificate(opts.security) ? { certPem: opts.security.tls.ca.toString('utf8') } : undefined);
    this.reads = new ReadIndex({ leadership: this.leadership, raft: node, defaultTimeoutMs: writeTimeoutMs });
    this.directory = new MemberDirectory({ store, write, log: opts.logger });
    this.forwarding = new Forwarding({ leadership: this.leadership, directory: this.directory, writeTimeoutMs, maxRequestBytes, security: opts.security });
    this.housekeeping = new Housekeeping({
      self: this.self,
      raft: node,
      leadership: this.leadership,
      store,
      directory: this.directory,
      tokens: this.tokens,
      write,
      askToRecord: (api, self) => this.forwarding.askToRecord(api, self),
      log: opts.logger,
      periodMs: opts.housekeepingMs ?? 500,
    });
    this.watches = new WatchSlots(opts.name, opts.maxWatches ?? 10_000);
    this.limits = new ClientLimits(opts.clientLimits ?? DEFAULT_CLIENT_LIMITS);
    this.maxObjectsPerNamespace = opts.maxObjectsPerNamespace ?? 100_000;
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
    const objects = objectService(plane);
    const cluster = clusterService(plane);
    // Who calls (a certificate, or an API token), then whether their rate allows it.
    const guard = async (ctx: CallContext): Promise<CallContext> => {
      const who = await bearerIdentity(plane.tokens, (c) => plane.readIndex(c), ctx, new Date());
      plane.limits.admit(who);
      return who;
    };
    addService(server, ObjectService, withCallGuard(ObjectService, objects, guard), { onInternalError });
    addService(server, ForwardService, forwardService(objects), { onInternalError });
    addService(server, ClusterService, withCallGuard(ClusterService, cluster, guard), { onInternalError });
    try {
      await bindServer(server, opts.listenApi, serverCredentials(opts.security, logRefusals(opts.logger, 'api'), OPEN_CALLS));
    } catch (err) {
      await node.close();
      throw new Error(`cannot serve the API on ${opts.listenApi}: ${(err as Error).message}`, { cause: err });
    }
    // Follow before the leader-only loops start: their first look at isLeader() must see the node's role.
    plane.leadership.follow((s, was) => {
      if (was === 'leader' && s.role !== 'leader') plane.writes.leadershipLost();
      if (s.role !== was || s.leader !== '') plane.housekeeping.soon();
    });
    plane.housekeeping.start();
    plane.leaderLoops = startLeaderOnlyLoops({
      api: {
        address: opts.advertiseApi,
        objects: inProcessClient(ObjectService, objects, { onInternalError }),
        cluster: inProcessClient(ClusterService, cluster, { onInternalError }),
      },
      isLeader: () => plane.isLeader(),
      onLeadershipChange: (listener) => node.onStateChange(listener),
      log: opts.logger,
      controllerSettings: opts.controllerSettings,
      enabled: opts.enabledLoops,
    });
    if (opts.certificateFiles !== undefined && hasCertificate(opts.security)) plane.renewal = renewCertificate(opts.security, opts.certificateFiles, opts.advertiseApi, opts.logger);
    opts.logger.info(
      { api: opts.advertiseApi, peer: opts.advertisePeer, clusterId: opts.clusterId, revision: store.revision, objects: store.size },
      'serving the API',
    );
    return plane;
  }

  /** close shuts the member down (see the module comment). Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.leadership.beginClosing();
      this.housekeeping.stop();
      this.renewal?.stop();
      await this.leaderLoops?.stop();
      await this.leadership.handOver();
      this.watches.endAll(true);
      this.writes.shutDown();
      await shutdownServer(this.server, 1_000);
      this.forwarding.close();
      await this.node.close();
    })();
    return this.closed;
  }

  /** ready: serving, a leader is known and reachable through its API, and the initial objects exist. */
  ready(): boolean {
    if (this.leadership.closing) return false;
    const leader = this.leadership.leader();
    if (leader === '') return false;
    if (leader !== this.name && this.directory.apiAddressOf(leader) === '') return false;
    return this.store.get({ kind: 'Namespace', name: 'default' }) !== undefined;
  }

  isLeader(): boolean {
    return this.leadership.isLeader();
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

  propose(ops: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> {
    return this.writes.propose(ops, requestId, ctx, verb);
  }

  readIndex(ctx: CallContext): Promise<void> {
    return this.reads.wait(ctx);
  }

  forward(method: ObjectWrite, req: unknown, ctx: CallContext): Promise<unknown> {
    return this.forwarding.forward(method, req, ctx);
  }

  watch(opts: { fromRevision: number; kind: string; namespace?: string; signal: AbortSignal }): AsyncIterator<WatchEvent> & { readonly progressRevision: number } {
    return this.store.watch(opts);
  }

  watchStarted(ctx: CallContext): { signal: AbortSignal; done: () => void } {
    if (this.leadership.closing) throw new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; watch at another member`);
    const release = this.limits.takeWatch(ctx);
    try {
      const slot = this.watches.take();
      return {
        signal: slot.signal,
        done: () => {
          slot.done();
          release();
        },
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  namespaceSize(namespace: string): number {
    return this.store.namespaceSize(namespace, NOT_COUNTED);
  }

  // -------------------------------------------------------------------------------------------
  // ClusterBackend

  selfInfo(): MemberInfo {
    const st = this.node.status();
    const memory = process.memoryUsage();
    return {
      ...this.self,
      rssBytes: BigInt(memory.rss),
      heapUsedBytes: BigInt(memory.heapUsed),
      heapTotalBytes: BigInt(memory.heapTotal),
      externalBytes: BigInt(memory.external),
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
  membersInfo(): Promise<MemberInfo[]> {
    const { voters, contexts } = this.node.status().membership;
    return Promise.all(voters.map((v) => (v === this.name ? this.selfInfo() : this.forwarding.memberInfo(v, contexts[v] ?? '', memberStatusTimeoutMs))));
  }

  membership(): { readonly voters: readonly string[]; readonly contexts: Readonly<Record<string, string>> } {
    return this.node.status().membership;
  }

  addVoter(name: string, peerAddress: string): Promise<void> {
    return this.node.addMember(name, peerAddress);
  }

  removeVoter(name: string): Promise<void> {
    return this.node.removeMember(name);
  }

  async transferLeadership(to: string): Promise<string> {
    await this.node.transferLeadership(to);
    return this.node.status().leader;
  }

  recordMember(r: MemberRecord): Promise<void> {
    return this.directory.record(r);
  }

  forgetMember(name: string): Promise<void> {
    return this.directory.forget(name);
  }

  certificateAuthority(): CertificateAuthority | undefined {
    return this.authority;
  }

  forwardToLeader<T>(what: string, ctx: CallContext, defaultTimeoutMs: number, call: (client: ServiceClient<typeof ClusterService>, opts: ForwardOptions) => Promise<T>): Promise<T> {
    return this.forwarding.forwardToLeader(what, ctx, defaultTimeoutMs, call);
  }
}
