/**
 * The agent's Node: what it says about the machine, how it registers it, and its heartbeat.
 *
 * - `buildNode` (pure) makes the Node object from the machine's facts, the flags and the
 *   health of the container runtime.
 * - `NodeRegistration.start()` creates the Node, or, when it exists (an agent restart, or a
 *   Node made by hand), adds the flag labels and taints it lacks with a compare-and-swap
 *   update of metadata and spec (never dropping spec.podCIDR, which the control plane owns)
 *   and writes a fresh status. While the API cannot be reached it retries with back-off.
 * - The heartbeat is the node's Lease (`tug-node-lease/<node name>`, Kubernetes' node lease):
 *   every `heartbeatSeconds` the agent renews its renewTime, creating the Lease when it is
 *   missing and otherwise replacing it without a version check (the agent owns it). A Lease is
 *   a small object, so a beat costs the control plane far less than a whole Node status.
 * - The status (status only, unconditional: the agent owns it) is written by a beat only when
 *   it would change something besides heartbeat times in the Node as stored (the Ready
 *   condition, addresses, capacity, ...: `statusWriteDue`), or when `nodeStatusReportSeconds`
 *   have passed since the last write, as the kubelet does. The Node as stored is the agent's
 *   informer's (`storedNode`), or the last write's answer when that is newer; so a Ready=Unknown
 *   set by the control plane while the agent was cut off differs from what the agent reports
 *   and is corrected by its next beat. Each write renews the Ready condition's
 *   lastHeartbeatTime and keeps its lastTransitionTime while its status stays the same. Ready is
 *   False, with a reason, while the health check fails.
 * - A Node deleted under a running agent is registered again: the informer no longer has it,
 *   so the beat writes the status, and that write's NotFound starts a registration. A failing
 *   beat is retried by the next one and logged once per outage.
 * - `parseLabels` and `parseTaints` read the `--labels` and `--taints` flags.
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, release, totalmem } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { NODE_LEASE_NAMESPACE, isLabelValue, isQualifiedName, nodeLease } from '@tugboat/api';
import type { Node, NodeCondition, NodeStatus, Taint, TaintEffect } from '@tugboat/api';
import { isAlreadyExists, isConflict, isNotFound } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';

/**
 * HEARTBEAT_ATTEMPT_MS bounds each try of a heartbeat write at one API member. A member cut off
 * from this node (a partition drops packets, no connection is refused) would otherwise hold the
 * write for the client's whole attempt time (5 s), as long as the control plane's grace before
 * it calls the Node unreachable: the node, healthy and reaching other members, would be marked
 * NotReady and its pods evicted. After two seconds the write goes to the next member: with the
 * 2 s beat, the Lease is then at most about 4 s old, inside the 5 s grace; a shorter bound would
 * cut off writes that are merely slow (on a link with 200 ms of delay a write takes about 1 s).
 */
export const HEARTBEAT_ATTEMPT_MS = 2_000;

/** MAX_PODS is the pods capacity every node reports. */
export const MAX_PODS = 110;
/** MEMORY_RESERVE_BYTES is held back from allocatable memory for the agent and the system. */
export const MEMORY_RESERVE_BYTES = 100 * 1024 * 1024;

const MI = 1024 * 1024;
const TAINT_EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

// ---------------------------------------------------------------------------------------------
// Flags

/**
 * parseLabels reads `k=v,k2=v2` (spaces around items are ignored, and so are empty items).
 * Keys must be qualified names (an optional DNS prefix and "/"), values label values. Throws an
 * Error naming the bad item.
 */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items(text)) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new Error(`label ${JSON.stringify(item)}: expected KEY=VALUE`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!isQualifiedName(key)) throw new Error(`label ${JSON.stringify(item)}: key ${JSON.stringify(key)} is not a qualified name such as example.com/role`);
    if (!isLabelValue(value)) {
      throw new Error(`label ${JSON.stringify(item)}: value ${JSON.stringify(value)} is not a label value (at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit)`);
    }
    if (Object.hasOwn(labels, key)) throw new Error(`label ${JSON.stringify(item)}: key ${JSON.stringify(key)} is given twice`);
    labels[key] = value;
  }
  return labels;
}

/**
 * parseTaints reads `key=value:Effect,key:Effect,...` with Effect one of NoSchedule,
 * PreferNoSchedule and NoExecute. Throws an Error naming the bad item.
 */
export function parseTaints(text: string): Taint[] {
  const taints: Taint[] = [];
  for (const item of items(text)) {
    const colon = item.lastIndexOf(':');
    if (colon < 0) throw new Error(`taint ${JSON.stringify(item)}: expected KEY=VALUE:EFFECT or KEY:EFFECT`);
    const effect = item.slice(colon + 1);
    const kv = item.slice(0, colon);
    if (!(TAINT_EFFECTS as readonly string[]).includes(effect)) {
      throw new Error(`taint ${JSON.stringify(item)}: effect ${JSON.stringify(effect)} is not one of ${TAINT_EFFECTS.join(', ')}`);
    }
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!isQualifiedName(key)) throw new Error(`taint ${JSON.stringify(item)}: key ${JSON.stringify(key)} is not a qualified name such as example.com/dedicated`);
    const taint: Taint = { key, effect: effect as TaintEffect };
    if (eq >= 0) {
      const value = kv.slice(eq + 1);
      if (!isLabelValue(value)) throw new Error(`taint ${JSON.stringify(item)}: value ${JSON.stringify(value)} is not a label value`);
      taint.value = value;
    }
    if (taints.some((t) => t.key === key && t.effect === taint.effect)) {
      throw new Error(`taint ${JSON.stringify(item)}: ${key}:${effect} is given twice`);
    }
    taints.push(taint);
  }
  return taints;
}

function items(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// ---------------------------------------------------------------------------------------------
// The Node object

/** MachineInfo is what the agent reports about the machine it runs on. */
export interface MachineInfo {
  readonly cpus: number;
  readonly memoryBytes: number;
  /** `uname -r`. */
  readonly kernelVersion: string;
  /** PRETTY_NAME of /etc/os-release. */
  readonly osImage: string;
  /** Architecture as Kubernetes names it: amd64, arm64, ... */
  readonly architecture: string;
}

/** NodeConfig is everything buildNode needs besides health and time. */
export interface NodeConfig {
  readonly nodeName: string;
  readonly nodeIP: string;
  /** Labels from --labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Taints from --taints. */
  readonly taints: readonly Taint[];
  /** Port of the agent's gRPC service (logs, exec). */
  readonly agentPort: number;
  /** tug-agent's version (reported as nodeInfo.kubeletVersion). */
  readonly agentVersion: string;
  /** containerd's version as CRI Version reports it ("1.6.20"). */
  readonly runtimeVersion: string;
  readonly machine: MachineInfo;
}

/** NodeHealth is the result of the agent's health check: ready, or not and why. */
export type NodeHealth = { readonly ready: true } | { readonly ready: false; readonly reason: string; readonly message: string };

/** kubeArch names a Node.js architecture (os.arch()) as Kubernetes does: x64 -> amd64, ia32 -> 386. */
export function kubeArch(nodeArch: string): string {
  return nodeArch === 'x64' ? 'amd64' : nodeArch === 'ia32' ? '386' : nodeArch;
}

/** osImageOf reads PRETTY_NAME from the text of /etc/os-release ("Linux" when it is missing). */
export function osImageOf(osRelease: string): string {
  const m = /^PRETTY_NAME=(.*)$/m.exec(osRelease);
  if (m === null) return 'Linux';
  const raw = m[1]!.trim();
  const unquoted = /^(["'])(.*)\1$/.exec(raw);
  return (unquoted === null ? raw : unquoted[2]!.replace(/\\(.)/g, '$1')) || 'Linux';
}

/** machineInfo reads the facts of this machine. */
export function machineInfo(): MachineInfo {
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // No os-release: osImageOf reports plain "Linux".
  }
  return {
    cpus: cpus().length,
    memoryBytes: totalmem(),
    kernelVersion: release(),
    osImage: osImageOf(osRelease),
    architecture: kubeArch(arch()),
  };
}

/**
 * healthOfRuntime turns the conditions of CRI Status (RuntimeReady, NetworkReady) into the
 * node's health: not ready when either is missing or false, with the runtime's reason.
 */
export function healthOfRuntime(conditions: readonly { type: string; status: boolean; reason: string; message: string }[]): NodeHealth {
  for (const [type, reason] of [
    ['RuntimeReady', 'ContainerRuntimeNotReady'],
    ['NetworkReady', 'NetworkNotReady'],
  ] as const) {
    const c = conditions.find((x) => x.type === type);
    if (c === undefined) return { ready: false, reason, message: `container runtime reports no ${type} condition` };
    if (!c.status) return { ready: false, reason, message: `container runtime: ${type}=false${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}` };
  }
  return { ready: true };
}

/**
 * readyCondition is the Ready condition at `now`: True with reason AgentReady, or False with
 * the health check's reason. lastTransitionTime stays that of `previous` when the status is
 * unchanged.
 */
export function readyCondition(health: NodeHealth, now: Date, previous?: NodeCondition): NodeCondition {
  const at = rfc3339(now);
  const status = health.ready ? 'True' : 'False';
  const transition = previous !== undefined && previous.status === status && previous.lastTransitionTime ? previous.lastTransitionTime : at;
  return health.ready
    ? { type: 'Ready', status, reason: 'AgentReady', message: 'tug-agent is running and the container runtime is ready', lastHeartbeatTime: at, lastTransitionTime: transition }
    : { type: 'Ready', status, reason: health.reason, message: health.message, lastHeartbeatTime: at, lastTransitionTime: transition };
}

/** nodeStatusOf is the Node's status (see buildNode). */
export function nodeStatusOf(config: NodeConfig, health: NodeHealth, now: Date, previous?: NodeCondition): NodeStatus {
  const m = config.machine;
  const memoryMi = Math.floor(m.memoryBytes / MI);
  const allocatableMi = Math.max(0, Math.floor((m.memoryBytes - MEMORY_RESERVE_BYTES) / MI));
  return {
    capacity: { cpu: String(m.cpus), memory: `${memoryMi}Mi`, pods: String(MAX_PODS) },
    allocatable: { cpu: String(m.cpus), memory: `${allocatableMi}Mi`, pods: String(MAX_PODS) },
    conditions: [readyCondition(health, now, previous)],
    addresses: [
      { type: 'InternalIP', address: config.nodeIP },
      { type: 'Hostname', address: config.nodeName },
    ],
    nodeInfo: {
      kernelVersion: m.kernelVersion,
      osImage: m.osImage,
      containerRuntimeVersion: `containerd://${config.runtimeVersion.replace(/^v/, '')}`,
      kubeletVersion: config.agentVersion,
      operatingSystem: 'linux',
      architecture: m.architecture,
    },
    daemonEndpoints: { agentEndpoint: { port: config.agentPort } },
  };
}

/** nodeLabels are the flag labels plus kubernetes.io/hostname (the node name), os and arch. */
export function nodeLabels(config: NodeConfig): Record<string, string> {
  return {
    ...config.labels,
    'kubernetes.io/hostname': config.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': config.machine.architecture,
  };
}

/**
 * buildNode is the Node the agent registers: labels (nodeLabels), the flag taints, and status:
 * capacity {cpu, memory in Mi, pods 110}, allocatable (memory less MEMORY_RESERVE_BYTES),
 * addresses [InternalIP, Hostname], nodeInfo, daemonEndpoints.agentEndpoint.port and the
 * Ready condition. spec.podCIDR is left to the control plane.
 */
export function buildNode(config: NodeConfig, health: NodeHealth, now: Date, previous?: NodeCondition): Node {
  const taints = config.taints.map((t) => ({ ...t }));
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: config.nodeName, labels: nodeLabels(config) },
    spec: taints.length === 0 ? {} : { taints },
    status: nodeStatusOf(config, health, now, previous),
  };
}

/**
 * mergeRegistration returns `existing` with what registration adds (undefined when nothing is
 * missing): the well-known labels set to this agent's values, flag labels whose key is missing
 * and flag taints whose key and effect are missing. Everything else (spec.podCIDR, labels and
 * taints set by others) stays.
 */
export function mergeRegistration(existing: Node, config: NodeConfig): Node | undefined {
  const labels = { ...existing.metadata.labels };
  let changed = false;
  const wellKnown = nodeLabels({ ...config, labels: {} });
  for (const [k, v] of Object.entries({ ...config.labels, ...wellKnown })) {
    const missing = !Object.hasOwn(labels, k);
    if (missing || (Object.hasOwn(wellKnown, k) && labels[k] !== v)) {
      labels[k] = v;
      changed = true;
    }
  }
  const taints = [...(existing.spec?.taints ?? [])];
  for (const t of config.taints) {
    if (!taints.some((x) => x.key === t.key && x.effect === t.effect)) {
      taints.push({ ...t });
      changed = true;
    }
  }
  if (!changed) return undefined;
  const spec = { ...existing.spec, ...(taints.length === 0 ? {} : { taints }) };
  return { ...existing, metadata: { ...existing.metadata, labels }, spec };
}

function withoutHeartbeats(status: NodeStatus): NodeStatus {
  if (status.conditions === undefined) return status;
  return { ...status, conditions: status.conditions.map(({ lastHeartbeatTime: _, ...c }) => c) };
}

/**
 * statusWriteDue tells whether a beat writes `next`, the status the agent reports now: when the
 * stored Node is not known (undefined), when its status differs from `next` in anything but the
 * conditions' lastHeartbeatTime, or when `sinceWriteMs` (since the last status write) has reached
 * `reportMs`.
 */
export function statusWriteDue(stored: Node | undefined, next: NodeStatus, sinceWriteMs: number, reportMs: number): boolean {
  if (stored === undefined || sinceWriteMs >= reportMs) return true;
  return !isDeepStrictEqual(withoutHeartbeats(stored.status ?? {}), withoutHeartbeats(next));
}

/** newer is the later version of the same Node (by resourceVersion); either may be undefined. */
function newer(a: Node | undefined, b: Node | undefined): Node | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion) ? b : a;
}

function readyOf(node: Node | undefined): NodeCondition | undefined {
  return node?.status?.conditions?.find((c) => c.type === 'Ready');
}

function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Registration and heartbeat

/** NodeRegistrationOptions: the NodeConfig fields (machine defaults to machineInfo()) and the loop's needs. */
export interface NodeRegistrationOptions extends Omit<NodeConfig, 'machine'> {
  readonly machine?: MachineInfo;
  readonly client: TugClient;
  /** health checks the container runtime (CRI Status); a throw counts as not ready. */
  readonly health: () => Promise<NodeHealth>;
  /** How often the Lease is renewed, seconds. */
  readonly heartbeatSeconds: number;
  /** Longest time between two status writes while the status stays the same, seconds. */
  readonly nodeStatusReportSeconds: number;
  /** storedNode is this Node as the agent's informer last saw it; undefined while it has not (the beat then writes the status). */
  readonly storedNode: () => Node | undefined;
  readonly log: Logger;
  /** Back-off between registration attempts, ms: doubles from initialMs to maxMs. Default 500 to 10,000. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Clock, for tests. Default: the wall clock. */
  readonly now?: () => Date;
}

/** NodeRegistration registers the Node and keeps its heartbeat going (see the module comment). */
export class NodeRegistration {
  private readonly opts: NodeRegistrationOptions;
  private readonly config: NodeConfig;
  private readonly now: () => Date;
  private readonly abort = new AbortController();
  /** The Node as the last status write (or registration) answered. */
  private written: Node | undefined;
  /** When the status was last written, ms (by `now`). */
  private writtenAtMs = 0;
  /** Whether this agent has seen its Lease exist (then a beat updates it, else creates it). */
  private leaseSeen = false;
  private timer: NodeJS.Timeout | undefined;
  private beat: Promise<void> | undefined;
  private outageSince: number | undefined;
  private registered = false;

  constructor(opts: NodeRegistrationOptions) {
    if (!(opts.heartbeatSeconds > 0)) throw new RangeError(`heartbeatSeconds must be positive, got ${opts.heartbeatSeconds}`);
    if (!(opts.nodeStatusReportSeconds > 0)) throw new RangeError(`nodeStatusReportSeconds must be positive, got ${opts.nodeStatusReportSeconds}`);
    this.opts = opts;
    this.config = {
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIP,
      labels: opts.labels,
      taints: opts.taints,
      agentPort: opts.agentPort,
      agentVersion: opts.agentVersion,
      runtimeVersion: opts.runtimeVersion,
      machine: opts.machine ?? machineInfo(),
    };
    this.now = opts.now ?? (() => new Date());
  }

  /** isRegistered tells whether the Node has been registered (it stays true after stop). */
  get isRegistered(): boolean {
    return this.registered;
  }

  /**
   * start registers the Node, retrying with back-off until it succeeds or stop() is called
   * (it never throws), then starts the heartbeat. Resolves once registered (or stopped).
   */
  async start(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 10_000 };
    let pauseMs = initialMs;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.register();
        this.registered = true;
        break;
      } catch (err) {
        if (this.stopped) return;
        const fields = { node: this.config.nodeName, attempt, retryInMs: pauseMs, err: errorText(err) };
        if (attempt === 1 || attempt % 10 === 0) this.opts.log.warn(fields, 'node registration failed; retrying');
        else this.opts.log.debug(fields, 'node registration failed; retrying');
        await this.sleep(pauseMs);
        pauseMs = Math.min(maxMs, pauseMs * 2);
      }
    }
    if (this.stopped) return;
    this.timer = setInterval(() => {
      if (this.beat === undefined) this.beat = this.heartbeat().finally(() => (this.beat = undefined));
    }, this.opts.heartbeatSeconds * 1_000);
  }

  /** stop ends registration attempts and the heartbeat; resolves when a beat under way is done. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    await this.beat;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async health(): Promise<NodeHealth> {
    try {
      return await this.opts.health();
    } catch (err) {
      return { ready: false, reason: 'ContainerRuntimeUnreachable', message: `container runtime did not answer: ${errorText(err)}` };
    }
  }

  /** register creates the Node, or brings an existing one up to date (labels, taints, status). */
  private async register(): Promise<void> {
    const { client, log } = this.opts;
    const config = this.config;
    const health = await this.health();
    const signal = this.abort.signal;
    try {
      const now = this.now();
      this.wrote(await client.nodes.create(buildNode(config, health, now), { signal }), now);
      log.info({ node: config.nodeName, ready: health.ready }, 'node registered');
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    for (let attempt = 1; ; attempt++) {
      const existing = await client.nodes.get(config.nodeName, { signal });
      const merged = mergeRegistration(existing, config);
      try {
        const updated = merged === undefined ? existing : await client.nodes.update(merged, { signal });
        const now = this.now();
        const status = nodeStatusOf(config, health, now, readyOf(updated));
        const written = await client.nodes.updateStatus({ ...updated, status }, { signal });
        this.wrote(written, now);
        log.info({ node: config.nodeName, ready: health.ready, podCIDR: written.spec?.podCIDR, labelsOrTaintsAdded: merged !== undefined }, 'node registered (it existed)');
        return;
      } catch (err) {
        // Someone else changed the Node between our read and write: read it again.
        if (!isConflict(err) || attempt >= 10) throw err;
      }
    }
  }

  private wrote(node: Node, at: Date): void {
    this.written = node;
    this.writtenAtMs = at.getTime();
  }

  /** heartbeat writes the status when due (statusWriteDue), then renews the Lease. */
  private async heartbeat(): Promise<void> {
    const { log } = this.opts;
    const config = this.config;
    const health = await this.health();
    if (this.stopped) return;
    const now = this.now();
    try {
      await this.reportStatus(health, now);
    } catch (err) {
      if (this.stopped) return;
      if (!isNotFound(err)) return this.failed(err);
      log.warn({ node: config.nodeName }, 'node heartbeat: the Node was deleted; registering it again');
      this.written = undefined;
      try {
        await this.register();
      } catch (e) {
        return this.failed(e);
      }
    }
    try {
      await this.renewLease(now);
    } catch (err) {
      if (!this.stopped) this.failed(err);
      return;
    }
    if (this.outageSince !== undefined) {
      log.info({ node: config.nodeName, outageMs: Date.now() - this.outageSince }, 'node heartbeat: writing again');
      this.outageSince = undefined;
    }
  }

  /** reportStatus writes the status (status only, unconditional: the agent owns it) when statusWriteDue says so. */
  private async reportStatus(health: NodeHealth, now: Date): Promise<void> {
    const { client, log } = this.opts;
    const config = this.config;
    const stored = this.opts.storedNode();
    // The informer may not have caught up with our own last write yet: the newer one counts.
    const current = stored === undefined ? undefined : newer(stored, this.written);
    const before = readyOf(current ?? this.written);
    const status = nodeStatusOf(config, health, now, before);
    if (!statusWriteDue(current, status, now.getTime() - this.writtenAtMs, this.opts.nodeStatusReportSeconds * 1_000)) return;
    const node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: config.nodeName }, status };
    this.wrote(await client.nodes.updateStatus(node, { signal: this.abort.signal, attemptTimeoutMs: HEARTBEAT_ATTEMPT_MS }), now);
    const after = readyOf(this.written);
    if (before !== undefined && after !== undefined && before.status !== after.status) {
      log.info({ node: config.nodeName, ready: after.status, reason: after.reason, message: after.message }, 'node Ready condition changed');
    }
  }

  /** renewLease writes the node's Lease: an unconditional update, or a create while it is not known to exist (or was deleted). */
  private async renewLease(now: Date): Promise<void> {
    const { client, log } = this.opts;
    const lease = nodeLease(this.config.nodeName, this.opts.heartbeatSeconds, now);
    const signal = this.abort.signal;
    if (this.leaseSeen) {
      try {
        await client.leases.update(lease, { signal, attemptTimeoutMs: HEARTBEAT_ATTEMPT_MS });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    try {
      await client.leases.create(lease, { signal, attemptTimeoutMs: HEARTBEAT_ATTEMPT_MS });
      log.info({ node: this.config.nodeName, namespace: NODE_LEASE_NAMESPACE }, 'node lease created');
    } catch (err) {
      // There already (an agent restart): ours to replace.
      if (!isAlreadyExists(err)) throw err;
      await client.leases.update(lease, { signal, attemptTimeoutMs: HEARTBEAT_ATTEMPT_MS });
    }
    this.leaseSeen = true;
  }

  /** failed logs a heartbeat failure once per outage. */
  private failed(err: unknown): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = Date.now();
    this.opts.log.warn({ node: this.config.nodeName, err: errorText(err) }, 'node heartbeat failed; retrying every beat (logged once per outage)');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.abort.signal;
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
