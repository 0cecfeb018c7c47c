/**
 * HollowNodes: many simulated nodes in one process, for scale benchmarks only. There is no
 * container runtime and no agent behind them: they register Nodes that look Ready, keep their
 * heartbeat, and answer every pod bound to them with a Running status at once. Nothing runs.
 *
 * - `start()` registers `count` Nodes named PREFIX0, PREFIX1, ... (label `tugboat.io/hollow=true`,
 *   `kubernetes.io/hostname`, the Ready condition, capacity and allocatable from the options, an
 *   InternalIP from 10.255.0.0/16, no agent endpoint), a bounded number at a time, each once
 *   with its status (a Node left by an earlier run gets a fresh status); then it creates their
 *   Leases (tug-node-lease/NAME) in transactions of up to 100 (one taken over from an earlier
 *   run is written alone).
 * - Heartbeats, as the agents beat: every Node renews its Lease (renewTime) once per
 *   `heartbeatSeconds`, the Nodes spread evenly over the period; the Nodes themselves are not
 *   written again. A beat that falls due while the previous one is still being written goes
 *   with the next (late, never skipped). The beats due together are written as transactions of
 *   up to 100 unconditional Lease updates (one Raft entry instead of one per Node). A
 *   transaction that fails is split in halves and tried again, down to single writes; a Lease
 *   found missing is created again. A Node deleted meanwhile is not registered again.
 * - Pods: one informer on every pod. A pod bound to one of these Nodes gets a Running status
 *   (Ready and ContainersReady True, a pod IP from 10.254.0.0/16, each container running with
 *   containerID `hollow://UID/NAME`); a pod with metadata.deletionTimestamp is deleted for good
 *   (grace 0), as an agent does once its containers have stopped. At most `writeConcurrency`
 *   writes run at once; what is pending goes in transactions (split on failure as above).
 */
import type { Logger } from 'pino';
import { nodeLease } from '@tugboat/api';
import type { Node, NodeStatus, Pod, PodStatus } from '@tugboat/api';
import { isAlreadyExists, isConflict, isNotFound, objectKey } from '@tugboat/client';
import type { Informer, TugClient, TxnOp } from '@tugboat/client';

/** HOLLOW_LABEL marks every Node HollowNodes registers. */
export const HOLLOW_LABEL = 'tugboat.io/hollow';

/** TXN_OPS_MAX is the most writes HollowNodes puts in one transaction (the store takes 128). */
const TXN_OPS_MAX = 100;
/** Most Node registrations under way at once. */
const REGISTER_CONCURRENCY = 32;
/** Pause before a pod write that failed for another reason than a conflict is tried again, ms. */
const RETRY_MS = 1_000;

export interface HollowNodesOptions {
  readonly client: TugClient;
  readonly count: number;
  /** Node names are PREFIX0 ... PREFIX(count-1). Default 'hollow-'. */
  readonly prefix?: string;
  /** capacity.cpu (= allocatable). Default '8'. */
  readonly cpu?: string;
  /** capacity.memory (= allocatable). Default '32Gi'. */
  readonly memory?: string;
  /** capacity.pods (= allocatable). Default 110. */
  readonly pods?: number;
  /** Each Node's heartbeat period, seconds. Default 10. */
  readonly heartbeatSeconds?: number;
  /** Most pod writes (a transaction or one call) under way at once. Default 8. */
  readonly writeConcurrency?: number;
  readonly log: Logger;
}

/** HollowStats counts what the hollow nodes wrote. */
export interface HollowStats {
  readonly nodes: number;
  /** Lease renewals written (the creations at registration are not counted). */
  readonly heartbeats: number;
  readonly podsRunning: number;
  readonly podsDeleted: number;
  readonly transactions: number;
  readonly writeFailures: number;
  /** The longest time between two written Lease renewals (or its creation and the first) of one Node, ms. */
  readonly maxHeartbeatGapMs: number;
}

/** hollowIp is the i-th address of 10.OCTET.0.0/16, skipping .0 and .255 (65,024 of them, then again). */
export function hollowIp(octet: number, i: number): string {
  const n = i % (256 * 254);
  return `10.${octet}.${Math.floor(n / 254)}.${(n % 254) + 1}`;
}

/** rfc3339 writes a time in whole seconds, as the agent does. */
function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** hollowNodeName is the name of the i-th hollow Node. */
export function hollowNodeName(prefix: string, i: number): string {
  return `${prefix}${i}`;
}

/** HollowNodeShape is what every hollow Node reports. */
export interface HollowNodeShape {
  readonly cpu: string;
  readonly memory: string;
  readonly pods: number;
}

/** hollowNodeStatus is a hollow Node's status at `nowMs`. */
export function hollowNodeStatus(name: string, ip: string, shape: HollowNodeShape, nowMs: number): NodeStatus {
  const at = rfc3339(nowMs);
  const resources = { cpu: shape.cpu, memory: shape.memory, pods: String(shape.pods) };
  return {
    capacity: { ...resources },
    allocatable: { ...resources },
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'HollowNodeReady',
        message: 'hollow node: a simulation for benchmarks, no containers run here',
        lastHeartbeatTime: at,
        lastTransitionTime: at,
      },
    ],
    addresses: [
      { type: 'InternalIP', address: ip },
      { type: 'Hostname', address: name },
    ],
    nodeInfo: {
      kernelVersion: 'hollow',
      osImage: 'hollow node (simulated)',
      containerRuntimeVersion: 'hollow://0',
      kubeletVersion: 'hollow',
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

/** hollowNode is the Node object registered for hollow node `name`. */
export function hollowNode(name: string, ip: string, shape: HollowNodeShape, nowMs: number): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { [HOLLOW_LABEL]: 'true', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    },
    spec: {},
    status: hollowNodeStatus(name, ip, shape, nowMs),
  };
}

/**
 * runningStatus is the status a hollow node writes for `pod`: Running, every container running
 * and ready since `nowMs`, with `podIP` (kept from the pod's status when it has one).
 */
export function runningStatus(pod: Pod, hostIP: string, podIP: string, nowMs: number): PodStatus {
  const at = rfc3339(nowMs);
  const ip = pod.status?.podIP !== undefined && pod.status.podIP !== '' ? pod.status.podIP : podIP;
  const uid = pod.metadata.uid ?? '';
  return {
    phase: 'Running',
    conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: at })),
    hostIP,
    podIP: ip,
    podIPs: [{ ip }],
    startTime: pod.status?.startTime ?? at,
    containerStatuses: pod.spec.containers.map((c) => ({
      name: c.name,
      state: { running: { startedAt: at } },
      lastState: {},
      ready: true,
      restartCount: 0,
      image: c.image ?? '',
      imageID: '',
      containerID: `hollow://${uid}/${c.name}`,
      started: true,
    })),
  };
}

/** PodAction is what a hollow node does about a pod: write it Running, delete it, or nothing. */
export type PodAction = 'run' | 'delete' | 'none';

/** podAction decides what a hollow node does about `pod`, given whether its node is hollow. */
export function podAction(pod: Pod | undefined, isHollowNode: (name: string) => boolean): PodAction {
  const node = pod?.spec.nodeName;
  if (pod === undefined || node === undefined || node === '' || !isHollowNode(node)) return 'none';
  if (pod.metadata.deletionTimestamp !== undefined) return 'delete';
  return pod.status?.phase === 'Running' ? 'none' : 'run';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** runPool runs `fn` over `items`, at most `concurrency` at once. */
async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** PodWrite is one write about a pod: its Running status, or its deletion. */
interface PodWrite {
  readonly pod: Pod;
  readonly op: TxnOp;
  readonly what: 'status' | 'delete';
}

interface HollowNodeState {
  readonly name: string;
  readonly ip: string;
  registered: boolean;
  /** When its Lease was last written, ms (performance.now); undefined before the first write. */
  renewedAt: number | undefined;
}

/** HollowNodes runs the simulated nodes (see the module comment). */
export class HollowNodes {
  readonly #client: TugClient;
  readonly #log: Logger;
  readonly #shape: HollowNodeShape;
  readonly #heartbeatSeconds: number;
  readonly #writeConcurrency: number;
  readonly #nodes: HollowNodeState[] = [];
  readonly #byName = new Map<string, HollowNodeState>();
  readonly #abort = new AbortController();
  /** Keys of pods to look at again; a key is taken out when a write picks it up. */
  readonly #pending = new Set<string>();
  readonly #writes = new Set<Promise<void>>();
  #informer: Informer<Pod> | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #beat: Promise<void> | undefined;
  readonly #due = new Set<HollowNodeState>();
  #tick = 0;
  #podIps = 0;
  #heartbeats = 0;
  #podsRunning = 0;
  #podsDeleted = 0;
  #transactions = 0;
  #writeFailures = 0;
  #maxHeartbeatGapMs = 0;

  constructor(opts: HollowNodesOptions) {
    if (!(Number.isSafeInteger(opts.count) && opts.count > 0)) throw new RangeError(`hollow nodes: count must be a positive integer, got ${opts.count}`);
    const heartbeatSeconds = opts.heartbeatSeconds ?? 10;
    if (!(heartbeatSeconds > 0)) throw new RangeError(`hollow nodes: heartbeatSeconds must be positive, got ${heartbeatSeconds}`);
    this.#client = opts.client;
    this.#log = opts.log;
    this.#shape = { cpu: opts.cpu ?? '8', memory: opts.memory ?? '32Gi', pods: opts.pods ?? 110 };
    this.#heartbeatSeconds = heartbeatSeconds;
    this.#writeConcurrency = Math.max(1, opts.writeConcurrency ?? 8);
    const prefix = opts.prefix ?? 'hollow-';
    for (let i = 0; i < opts.count; i++) {
      const n: HollowNodeState = { name: hollowNodeName(prefix, i), ip: hollowIp(255, i), registered: false, renewedAt: undefined };
      this.#nodes.push(n);
      this.#byName.set(n.name, n);
    }
  }

  /** nodeNames are the names of the hollow Nodes. */
  get nodeNames(): string[] {
    return this.#nodes.map((n) => n.name);
  }

  get stats(): HollowStats {
    return {
      nodes: this.#nodes.filter((n) => n.registered).length,
      heartbeats: this.#heartbeats,
      podsRunning: this.#podsRunning,
      podsDeleted: this.#podsDeleted,
      transactions: this.#transactions,
      writeFailures: this.#writeFailures,
      maxHeartbeatGapMs: Math.round(this.#maxHeartbeatGapMs),
    };
  }

  /** start follows pods, registers every Node and its Lease and starts the heartbeats; resolves once all are registered. */
  async start(): Promise<void> {
    const informer = this.#client.pods.informer({
      onError: (err) => this.#log.warn({ err: errorText(err) }, 'hollow nodes: pods watch interrupted; resuming'),
    });
    this.#informer = informer;
    informer.addHandler((key) => this.#consider(key));
    informer.start();
    const t0 = performance.now();
    await runPool(this.#nodes, REGISTER_CONCURRENCY, (n) => this.#register(n));
    if (this.#stopped) return;
    await this.#renewLeases(this.#nodes, 'create');
    if (this.#stopped) return;
    await informer.waitForSync();
    this.#log.info({ nodes: this.#nodes.length, ms: Math.round(performance.now() - t0) }, 'hollow nodes registered');
    this.#startHeartbeats();
  }

  /** stop ends the heartbeats, the pods informer and the writes under way. */
  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#heartbeatTimer);
    await this.#informer?.stop();
    await this.#beat;
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes]);
  }

  get #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  async #register(n: HollowNodeState): Promise<void> {
    const signal = this.#abort.signal;
    for (let attempt = 1; !this.#stopped; attempt++) {
      try {
        await this.#client.nodes.create(hollowNode(n.name, n.ip, this.#shape, Date.now()), { signal });
        n.registered = true;
        return;
      } catch (err) {
        if (this.#stopped) return;
        if (isAlreadyExists(err)) {
          const status = hollowNodeStatus(n.name, n.ip, this.#shape, Date.now());
          await this.#client.nodes.updateStatus({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status }, { signal });
          n.registered = true;
          return;
        }
        if (attempt >= 5) throw new Error(`hollow node ${n.name}: registration failed ${attempt} times: ${errorText(err)}`, { cause: err });
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  /**
   * The Nodes are split into slots, one per tick; each tick makes the Nodes of the next slot
   * due. Due Nodes are written by one beat at a time: Nodes that fall due while a beat is under
   * way go with the next one, late rather than skipped (a skipped beat could make the control
   * plane call them NotReady).
   */
  #startHeartbeats(): void {
    const periodMs = this.#heartbeatSeconds * 1_000;
    const tickMs = Math.max(100, Math.min(1_000, periodMs / 10));
    const slots = Math.max(1, Math.round(periodMs / tickMs));
    this.#heartbeatTimer = setInterval(() => {
      const slot = this.#tick++ % slots;
      this.#nodes.forEach((n, i) => {
        if (i % slots === slot) this.#due.add(n);
      });
      this.#beatDue();
    }, tickMs);
  }

  #beatDue(): void {
    if (this.#beat !== undefined || this.#due.size === 0 || this.#stopped) return;
    const due = [...this.#due];
    this.#due.clear();
    this.#beat = this.#renewLeases(due, 'update').finally(() => {
      this.#beat = undefined;
      this.#beatDue();
    });
  }

  /** renewLeases writes the Leases of `nodes` renewed now, in transactions of up to TXN_OPS_MAX creates (at registration) or updates (beats). */
  async #renewLeases(nodes: readonly HollowNodeState[], op: 'create' | 'update'): Promise<void> {
    const now = Date.now();
    const batches: HollowNodeState[][] = [];
    for (let i = 0; i < nodes.length; i += TXN_OPS_MAX) batches.push(nodes.slice(i, i + TXN_OPS_MAX));
    await runPool(batches, this.#writeConcurrency, (batch) => this.#renewTogether(batch, op, now));
  }

  /**
   * renewTogether writes the Leases as one transaction: unconditional updates (the Leases are
   * ours), or creates. When it fails (a Lease missing, or left by an earlier run) each half is
   * tried again, down to single writes.
   */
  async #renewTogether(nodes: readonly HollowNodeState[], op: 'create' | 'update', now: number): Promise<void> {
    if (this.#stopped || nodes.length === 0) return;
    if (nodes.length === 1) {
      await this.#renewAlone(nodes[0]!, op, now);
      return;
    }
    try {
      await this.#client.txn(
        nodes.map((n): TxnOp => ({ op, object: nodeLease(n.name, this.#heartbeatSeconds, new Date(now)) })),
        { signal: this.#abort.signal },
      );
      this.#transactions++;
      for (const n of nodes) this.#renewed(n, op === 'update');
    } catch {
      const half = Math.ceil(nodes.length / 2);
      await Promise.all([this.#renewTogether(nodes.slice(0, half), op, now), this.#renewTogether(nodes.slice(half), op, now)]);
    }
  }

  /** renewAlone writes one Lease: `op` first, then the other one when the Lease is missing (update) or there already (create). */
  async #renewAlone(n: HollowNodeState, op: 'create' | 'update', now: number): Promise<void> {
    const lease = nodeLease(n.name, this.#heartbeatSeconds, new Date(now));
    const signal = this.#abort.signal;
    try {
      try {
        await (op === 'create' ? this.#client.leases.create(lease, { signal }) : this.#client.leases.update(lease, { signal }));
      } catch (err) {
        if (op === 'create' && isAlreadyExists(err)) await this.#client.leases.update(lease, { signal });
        else if (op === 'update' && isNotFound(err)) await this.#client.leases.create(lease, { signal });
        else throw err;
      }
      this.#renewed(n, op === 'update');
    } catch (err) {
      if (!this.#stopped) this.#failed(op === 'create' ? 'lease' : 'heartbeat', n.name, err);
    }
  }

  /** renewed records a written Lease; a heartbeat counts, and so does its distance from the previous write. */
  #renewed(n: HollowNodeState, heartbeat: boolean): void {
    const now = performance.now();
    if (heartbeat) {
      this.#heartbeats++;
      if (n.renewedAt !== undefined) this.#maxHeartbeatGapMs = Math.max(this.#maxHeartbeatGapMs, now - n.renewedAt);
    }
    n.renewedAt = now;
  }

  // -------------------------------------------------------------------------------------------
  // Pods

  #isHollow = (name: string): boolean => this.#byName.has(name);

  #consider(key: string): void {
    if (podAction(this.#informer?.get(key), this.#isHollow) === 'none') return;
    this.#pending.add(key);
    this.#pump();
  }

  /** pump starts writes while there is room and work; a batch takes its share of what is pending. */
  #pump(): void {
    while (!this.#stopped && this.#writes.size < this.#writeConcurrency && this.#pending.size > 0) {
      const size = Math.min(TXN_OPS_MAX, Math.ceil(this.#pending.size / (this.#writeConcurrency - this.#writes.size)));
      const keys: string[] = [];
      for (const k of this.#pending) {
        keys.push(k);
        if (keys.length >= size) break;
      }
      for (const k of keys) this.#pending.delete(k);
      const w: Promise<void> = this.#writePods(keys).finally(() => {
        this.#writes.delete(w);
        this.#pump();
      });
      this.#writes.add(w);
    }
  }

  async #writePods(keys: readonly string[]): Promise<void> {
    const now = Date.now();
    const writes: PodWrite[] = [];
    for (const k of keys) {
      const pod = this.#informer?.get(k);
      const action = podAction(pod, this.#isHollow);
      if (pod === undefined || action === 'none') continue;
      if (action === 'run') {
        const running: Pod = { ...pod, status: runningStatus(pod, this.#byName.get(pod.spec.nodeName!)!.ip, hollowIp(254, this.#podIps++), now) };
        writes.push({ pod, op: { op: 'update', object: running }, what: 'status' });
      } else {
        // A delete in a transaction removes the pod at once (grace 0), only the version seen:
        // if it changed meanwhile, the informer brings it back here.
        const { name = '', namespace = '', resourceVersion } = pod.metadata;
        writes.push({ pod, op: { op: 'delete', ref: { kind: 'Pod', namespace, name }, expectedResourceVersion: resourceVersion }, what: 'delete' });
      }
    }
    await this.#writeTogether(writes);
  }

  /** writeTogether writes the pods in one transaction; when it fails (one of them changed) each half is tried again, down to single writes. */
  async #writeTogether(writes: readonly PodWrite[]): Promise<void> {
    if (writes.length === 0 || this.#stopped) return;
    if (writes.length === 1) {
      await this.#writeAlone(writes[0]!);
      return;
    }
    try {
      await this.#client.txn(
        writes.map((w) => w.op),
        { signal: this.#abort.signal },
      );
      this.#transactions++;
      for (const w of writes) this.#written(w.what);
    } catch {
      const half = Math.ceil(writes.length / 2);
      await Promise.all([this.#writeTogether(writes.slice(0, half)), this.#writeTogether(writes.slice(half))]);
    }
  }

  /** writeAlone writes one pod: a status-only update checked against its uid (as the agent does), or the delete. */
  async #writeAlone({ pod, op, what }: PodWrite): Promise<void> {
    const signal = this.#abort.signal;
    try {
      if (op.op === 'update') {
        const { name = '', namespace = '', uid = '' } = pod.metadata;
        const status = (op.object as Pod).status!;
        await this.#client.pods.updateStatus({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, uid }, spec: pod.spec, status }, { signal });
      } else {
        await this.#client.txn([op], { signal });
      }
      this.#written(what);
    } catch (err) {
      this.#podFailed(what, pod, err);
    }
  }

  #written(what: 'status' | 'delete'): void {
    if (what === 'status') this.#podsRunning++;
    else this.#podsDeleted++;
  }

  /** podFailed: a pod gone or changed needs nothing (the informer brings its news); other failures are retried. */
  #podFailed(what: string, pod: Pod, err: unknown): void {
    if (this.#stopped || isNotFound(err) || isConflict(err)) return;
    this.#failed(what, objectKey(pod), err);
    const key = objectKey(pod);
    setTimeout(() => this.#consider(key), RETRY_MS).unref();
  }

  #failed(what: string, name: string, err: unknown): void {
    this.#writeFailures++;
    // One line per failure would flood the log under load: the first and then every hundredth.
    if (this.#writeFailures === 1 || this.#writeFailures % 100 === 0) {
      this.#log.warn({ what, object: name, failures: this.#writeFailures, err: errorText(err) }, 'hollow nodes: write failed');
    }
  }
}
