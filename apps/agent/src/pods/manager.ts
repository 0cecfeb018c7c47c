// manager.ts: PodManager runs the pods bound to this node through the container runtime.
//
// Each pod uid has one worker: syncs of one pod never overlap, syncs of different pods run in
// parallel. A sync observes the pod's sandboxes and containers, plans (plan.ts), carries the
// plan out, observes again and computes the status (status.ts), which is written when it
// changed, apart from the sync, so an unreachable control plane delays status but not pods.
//
// What wakes a worker: setPods (a pod added, changed or gone), the prober (liveness failure,
// readiness change), containerd's event that a container or sandbox exited (runtimeExit), a
// relist of the runtime (an unknown pod, a change the events missed), the end of a back-off or
// retry delay, and a full resync of every pod every resyncMs. While the event stream is up the
// relist runs every relistMs and once after each (re)subscription; while it is down, every tick.
// What a sync did itself (the sandboxes and containers it made or stopped) is remembered from
// its own observation, so neither a relist nor an event wakes the pod again for it.
//
// On start the manager adopts what the runtime already has under MANAGED_LABEL and changes
// nothing until the first setPods: then pods that are wanted go on as they are (running
// containers with an unchanged spec hash are kept) and everything else is removed.
//
// A pod with metadata.deletionTimestamp is terminating: once no service sends it traffic any
// more (lifecycle drain, bounded by DRAIN_WAIT_MAX_MS and the grace period), its containers
// are stopped with what is left of its grace period (none once the deletion time has passed),
// each after its preStop hook (lifecycle.ts), everything of it is removed, and then the pod is
// deleted for good through podDeleter (grace 0, checked against its uid), which ends its
// graceful deletion. A container's postStart hook runs right after it starts.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Container, Pod, PodStatus } from '@tugboat/api';
import { imagePullPolicyFor } from '@tugboat/api';
import { isCriError } from '@tugboat/cri';
import { Status } from '@tugboat/proto';
import type { ProbeTarget } from '../probes/prober.ts';
import { MIN_STOP_SECONDS } from './lifecycle.ts';
import type { PodLifecycle } from './lifecycle.ts';
import { ContainerNotFoundError } from '../server.ts';
import type { ContainerInstance, ContainerLookup } from '../server.ts';
import { logsRoot } from '../paths.ts';
import { backoffKey, RestartBackoff } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import { containerConfig, containerHash, sandboxConfig } from './cri-config.ts';
import type { RuntimeSettings } from './cri-config.ts';
import { resolveEnv } from './env.ts';
import type { ObjectSource } from './env.ts';
import { planPod } from './plan.ts';
import type { KillContainer, PodPlan, StartContainer, StartFailure } from './plan.ts';
import { hasEnded, listManaged, observedObjects, RuntimeObserver } from './runtime.ts';
import type { ManagedObject, PodObservation, RuntimeClient } from './runtime.ts';
import { podStatus, statusKey } from './status.ts';
import type { WaitingReason } from './status.ts';
import { containerMounts, VolumeManager } from './volumes.ts';

/** PodProber is the part of the ProbeManager the pod manager drives. */
export interface PodProber {
  update(pod: Pod, running: readonly ProbeTarget[]): void;
  ready(podUid: string, containerName: string, containerId: string): boolean;
  remove(podUid: string): void;
}

/** PodVolumes is the part of the VolumeManager the pod manager uses. */
export interface PodVolumes {
  setUp(pod: Pod, source: ObjectSource): Promise<Map<string, string>>;
  tearDown(podUid: string): Promise<void>;
  podUids(): string[];
}

/** ContainerSetup builds what the runtime is given (defaults: cri-config.ts, env.ts, volumes.ts). */
export interface ContainerSetup {
  sandboxConfig: typeof sandboxConfig;
  containerConfig: typeof containerConfig;
  containerHash: typeof containerHash;
  containerMounts: typeof containerMounts;
  resolveEnv: typeof resolveEnv;
}

/** PodManagerTiming: the manager's clocks, in milliseconds. */
export interface PodManagerTiming {
  /** tickMs: how often due pods are woken, and the runtime relisted while runtime events are
   *  not coming. Default 1000. */
  tickMs: number;
  /** relistMs: how often the runtime is relisted while runtime events are coming. Default 30000. */
  relistMs: number;
  /** resyncMs: how often every pod is synced anyway. Default 10000. */
  resyncMs: number;
  /** retryMs: the wait after a failed sync or status write. Default 2000. */
  retryMs: number;
  /** volumeRefreshMs: how often configMap and secret volumes of running pods are rewritten. Default 30000. */
  volumeRefreshMs: number;
}

export interface PodManagerOptions {
  runtime: RuntimeClient;
  source: ObjectSource;
  /** statusWriter writes a pod's status (the agent: client.pods.updateStatus). */
  statusWriter: (pod: Pod, status: PodStatus) => Promise<void>;
  /** podDeleter deletes a terminating pod for good once everything of it is removed (the agent:
   *  client.pods.delete with grace 0 and the pod's uid). It resolves as well when the pod is
   *  gone already or has another uid: someone else finished it. */
  podDeleter: (pod: Pod) => Promise<void>;
  prober: PodProber;
  /** lifecycle runs container hooks and waits for a terminating pod's traffic to drain away. */
  lifecycle: PodLifecycle;
  settings: RuntimeSettings & { nodeIP: string };
  log: Logger;
  /** backoff of container restarts; default 10 s doubling to 300 s, reset after a 10-minute run. */
  backoff?: Partial<BackoffPolicy>;
  timing?: Partial<PodManagerTiming>;
  /** volumes defaults to a VolumeManager on settings.dataDir. */
  volumes?: PodVolumes;
  /** setup defaults to the real config builders. */
  setup?: Partial<ContainerSetup>;
  now?: () => number;
}

const DEFAULT_TIMING: PodManagerTiming = { tickMs: 1000, relistMs: 30_000, resyncMs: 10_000, retryMs: 2000, volumeRefreshMs: 30_000 };
const DEFAULT_GRACE_SECONDS = 30;
/** Failed starts (sandboxes, pulls, config errors) are retried with back-off up to this. */
const START_FAILURE_MAX_MS = 60_000;
/** DRAIN_WAIT_MAX_MS bounds the wait for a terminating pod to leave every service's rules. */
const DRAIN_WAIT_MAX_MS = 5_000;
/** containerd publishes an exit before its CRI plugin has recorded it: a sync that still sees
 *  the exited object running looks again EXIT_CONFIRM_MS later, at most EXIT_CONFIRM_LOOKS
 *  times (then the relist and the resync are left to notice it). */
const EXIT_CONFIRM_MS = 100;
const EXIT_CONFIRM_LOOKS = 30;
/** SANDBOX_BACKOFF_NAME keys the sandbox's start back-off (no container name has a colon). */
const SANDBOX_BACKOFF_NAME = ':sandbox';

/** PodEntry is what the manager keeps of one pod uid. */
interface PodEntry {
  uid: string;
  /** desired is the pod while it is wanted on this node. */
  desired: Pod | undefined;
  /** lastSeen is the last pod object seen (names and grace period after deletion). */
  lastSeen: Pod | undefined;
  observation: PodObservation | undefined;
  startFailures: Map<string, StartFailure>;
  /** livenessFailed: container id -> probe message. */
  livenessFailed: Map<string, string>;
  volumePaths: Map<string, string> | undefined;
  volumesAtMs: number;
  /** loggedWaits: container name -> the wait last logged. */
  loggedWaits: Map<string, string>;
  status: PodStatus | undefined;
  // worker
  running: boolean;
  again: boolean;
  wakeAtMs: number | undefined;
  // status writes
  writtenKey: string | undefined;
  pendingStatus: { status: PodStatus; key: string } | undefined;
  /** writingKey: the key of the status being written now, if a write is under way. */
  writingKey: string | undefined;
  /** apiDiffers: another writer changed the status in the API since the agent last wrote it. */
  apiDiffers: boolean;
  writeRetryAtMs: number;
  writeFailing: boolean;
  /** sandboxRetryAtMs: a failed RunPodSandbox is not tried again before this. */
  sandboxRetryAtMs: number;
  /** sandboxError: why the last RunPodSandbox failed ('' once one succeeds). */
  sandboxError: string;
  /** removed: everything of the pod is gone (it may still be listed, being deleted). */
  removed: boolean;
  /** deleted: the terminating pod was deleted for good (podDeleter succeeded). */
  deleted: boolean;
  /** drained: the terminating pod's traffic was waited away (or the wait timed out). */
  drained: boolean;
}

/** StartError is a failed container start with its status reason. */
class StartError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const isNotFound = (err: unknown): boolean => isCriError(err, Status.NOT_FOUND);
/** sameIntent tells whether two versions of a pod ask the same of the agent: the same spec
 *  (generation) and the same deletion request. */
function sameIntent(a: Pod, b: Pod): boolean {
  const x = a.metadata;
  const y = b.metadata;
  return (
    x.generation === y.generation &&
    x.deletionTimestamp === y.deletionTimestamp &&
    x.deletionGracePeriodSeconds === y.deletionGracePeriodSeconds &&
    (x.generation !== undefined || x.resourceVersion === y.resourceVersion)
  );
}

/** configReason is the waiting reason of an error from env or volume resolution. */
const configReason = (err: unknown): string => {
  const reason = (err as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason !== '' ? reason : 'CreateContainerConfigError';
};

/** PodManager runs the desired pods of this node; see the file comment. */
export class PodManager implements ContainerLookup {
  readonly #runtime: RuntimeClient;
  readonly #source: ObjectSource;
  readonly #statusWriter: (pod: Pod, status: PodStatus) => Promise<void>;
  readonly #podDeleter: (pod: Pod) => Promise<void>;
  readonly #prober: PodProber;
  readonly #lifecycle: PodLifecycle;
  readonly #settings: RuntimeSettings & { nodeIP: string };
  readonly #log: Logger;
  readonly #timing: PodManagerTiming;
  readonly #volumes: PodVolumes;
  readonly #setup: ContainerSetup;
  readonly #now: () => number;
  readonly #observer: RuntimeObserver;
  readonly #backoff: RestartBackoff;
  readonly #startBackoff: RestartBackoff;
  readonly #entries = new Map<string, PodEntry>();
  /** #desiredUids is undefined until the first setPods: until then nothing is removed. */
  #desiredUids: Set<string> | undefined;
  #known = new Map<string, ManagedObject>();
  readonly #inFlight = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking = false;
  #relistFailing = false;
  #lastResyncMs = 0;
  #lastRelistMs = 0;
  /** #eventsLive: the runtime's event stream is up (runtimeEventsLive). */
  #eventsLive = false;
  /** #relistDue: relist at the next tick, whatever the events say. */
  #relistDue = false;
  /** #unconfirmedExits: exits the runtime's events reported that no observation has shown yet. */
  readonly #unconfirmedExits = new Map<string, { podUid: string; looksLeft: number }>();
  #stopped = false;

  constructor(opts: PodManagerOptions) {
    this.#runtime = opts.runtime;
    this.#source = opts.source;
    this.#statusWriter = opts.statusWriter;
    this.#podDeleter = opts.podDeleter;
    this.#prober = opts.prober;
    this.#lifecycle = opts.lifecycle;
    this.#settings = opts.settings;
    this.#log = opts.log;
    this.#timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.#volumes = opts.volumes ?? new VolumeManager({ dataDir: opts.settings.dataDir, log: opts.log });
    this.#setup = { sandboxConfig, containerConfig, containerHash, containerMounts, resolveEnv, ...opts.setup };
    this.#now = opts.now ?? Date.now;
    this.#observer = new RuntimeObserver(opts.runtime);
    this.#backoff = new RestartBackoff(opts.backoff);
    const { initialMs, maxMs } = this.#backoff.policy;
    this.#startBackoff = new RestartBackoff({ initialMs, maxMs: Math.max(initialMs, Math.min(maxMs, START_FAILURE_MAX_MS)) });
  }

  /** start adopts what the runtime already runs (MANAGED_LABEL) and begins the sync loop. */
  async start(): Promise<void> {
    this.#known = await listManaged(this.#runtime);
    const uids = new Set([...this.#known.values()].map((o) => o.podUid));
    for (const uid of uids) this.#entry(uid);
    this.#log.info({ pods: uids.size, objects: this.#known.size }, 'adopted pods found in the runtime');
    this.#lastResyncMs = this.#now();
    this.#lastRelistMs = this.#now();
    this.#timer = setInterval(() => this.#tick(), this.#timing.tickMs);
  }

  /** stop ends the loops and waits for syncs and status writes under way; containers keep running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** setPods gives the full desired set: the pods bound to this node. Pods must have a uid. */
  setPods(pods: readonly Pod[]): void {
    const first = this.#desiredUids === undefined;
    const wanted = pods.filter((p) => p.metadata.uid !== undefined && p.metadata.uid !== '');
    // Known before any worker runs: a sync before the first setPods changes nothing.
    this.#desiredUids = new Set(wanted.map((p) => p.metadata.uid ?? ''));
    for (const pod of wanted) {
      const entry = this.#entry(pod.metadata.uid ?? '');
      // Only what the agent acts on: its own status writes come back here and need no sync.
      let changed = entry.desired === undefined || !sameIntent(entry.desired, pod);
      if (entry.desired === undefined && entry.writtenKey === undefined && pod.status !== undefined) {
        entry.writtenKey = statusKey(pod.status);
      } else if (this.#statusChangedElsewhere(entry, pod)) {
        // Another writer changed the status (the node lifecycle controller marks the pods of a
        // NotReady node not Ready): what the API holds is no longer what the agent wrote, so the
        // next sync writes the agent's view again, after any write under way.
        entry.apiDiffers = true;
        changed = true;
      }
      entry.desired = pod;
      entry.lastSeen = pod;
      if (changed) this.#enqueue(entry.uid);
    }
    for (const entry of this.#entries.values()) {
      if (!this.#desiredUids.has(entry.uid) && (entry.desired !== undefined || first)) {
        entry.desired = undefined;
        this.#enqueue(entry.uid);
      }
    }
    if (first) this.#track(this.#sweepDisk());
  }

  /**
   * #statusChangedElsewhere: a new version of the pod whose status is none the agent wrote last,
   * is writing or is about to write. A version that arrives while a write is under way counts
   * too: it may have been written after the agent's write landed (the controller read the
   * agent's status and marked it), and no later event would tell.
   */
  #statusChangedElsewhere(entry: PodEntry, pod: Pod): boolean {
    if (pod.status === undefined || entry.writtenKey === undefined) return false;
    if (entry.lastSeen?.metadata.resourceVersion === pod.metadata.resourceVersion) return false;
    const key = statusKey(pod.status);
    return key !== entry.writtenKey && key !== entry.writingKey && key !== entry.pendingStatus?.key;
  }

  /** livenessFailed is the prober's callback: the container is stopped and restarted by policy. */
  livenessFailed(target: ProbeTarget, message: string): void {
    const entry = this.#entries.get(target.podUid);
    if (entry === undefined) return;
    entry.livenessFailed.set(target.containerId, message);
    this.#enqueue(target.podUid);
  }

  /**
   * runtimeExit is told that a sandbox or container exited (containerd's /tasks/exit): its pod
   * is synced, and synced again shortly while the runtime still shows the object running. An
   * exit the manager has seen already (its own stop, observed) needs nothing; one of an object
   * it does not know has the runtime relisted at the next tick.
   */
  runtimeExit(id: string): void {
    const known = this.#known.get(id);
    if (known === undefined) {
      this.#relistDue = true;
      return;
    }
    if (hasEnded(known)) return;
    this.#unconfirmedExits.set(id, { podUid: known.podUid, looksLeft: EXIT_CONFIRM_LOOKS });
    this.#enqueue(known.podUid);
  }

  /** runtimeEventsLive is told when the runtime's event stream comes up (a relist follows, for
   *  what happened while it was down) and when it goes down (the runtime is relisted every tick). */
  runtimeEventsLive(live: boolean): void {
    this.#eventsLive = live;
    this.#relistDue = true;
  }

  /** resync syncs a pod soon (the prober's readiness callback: its status is computed again). */
  resync(podUid: string): void {
    if (this.#entries.has(podUid)) this.#enqueue(podUid);
  }

  /** podIP is the IP of a pod on this node ("" if it has none). */
  podIP(podUid: string): string {
    const entry = this.#entries.get(podUid);
    const sandbox = entry?.observation?.sandboxes[0];
    if (sandbox !== undefined && sandbox.ready && sandbox.ip !== '') return sandbox.ip;
    return entry?.status?.podIP ?? '';
  }

  /**
   * find returns the newest instance of a pod's container, or with previous the exited one
   * before it, for logs and exec. An empty container name means the pod's only container.
   * Throws ContainerNotFoundError saying what is missing.
   */
  async find(namespace: string, podName: string, container: string, previous: boolean): Promise<ContainerInstance> {
    const ref = `${namespace}/${podName}`;
    const entries = [...this.#entries.values()].filter((e) => {
      const meta = (e.desired ?? e.lastSeen)?.metadata;
      return meta?.namespace === namespace && meta.name === podName;
    });
    const entry = entries.find((e) => e.desired !== undefined) ?? entries[0];
    const pod = entry?.desired ?? entry?.lastSeen;
    if (entry === undefined || pod === undefined) throw new ContainerNotFoundError(`pod ${ref} is not on this node`);
    const names = pod.spec.containers.map((c) => c.name);
    let name = container;
    if (name === '') {
      if (names.length !== 1) throw new ContainerNotFoundError(`pod ${ref} has several containers (${names.join(', ')}): name one`);
      name = names[0] as string;
    } else if (!names.includes(name)) {
      throw new ContainerNotFoundError(`pod ${ref} has no container "${name}"; its containers: ${names.join(', ')}`);
    }
    const history = (entry.observation?.containers ?? []).filter((c) => c.name === name);
    const found = previous ? history.slice(1).find((c) => c.state === 'exited') : history[0];
    if (found === undefined) {
      throw new ContainerNotFoundError(
        previous ? `container ${name} of pod ${ref} has no previous instance` : `container ${name} of pod ${ref} has not been created yet`,
      );
    }
    return { containerId: found.id, logPath: found.logPath, running: found.state === 'running' };
  }

  // ---- workers ----

  #entry(uid: string): PodEntry {
    let entry = this.#entries.get(uid);
    if (entry === undefined) {
      entry = {
        uid,
        desired: undefined,
        lastSeen: undefined,
        observation: undefined,
        startFailures: new Map(),
        livenessFailed: new Map(),
        volumePaths: undefined,
        volumesAtMs: 0,
        loggedWaits: new Map(),
        status: undefined,
        running: false,
        again: false,
        wakeAtMs: undefined,
        writtenKey: undefined,
        pendingStatus: undefined,
        writingKey: undefined,
        apiDiffers: false,
        writeRetryAtMs: 0,
        writeFailing: false,
        sandboxRetryAtMs: 0,
        sandboxError: '',
        removed: false,
        deleted: false,
        drained: false,
      };
      this.#entries.set(uid, entry);
    }
    return entry;
  }

  /** #track keeps a background task for stop() and logs its failure. */
  #track(task: Promise<void>): void {
    const settled = task.then(
      () => undefined,
      (err: unknown) => this.#log.warn({ err: errorText(err) }, 'pod manager task failed'),
    );
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
  }

  #enqueue(uid: string): void {
    if (this.#stopped) return;
    const entry = this.#entries.get(uid);
    if (entry === undefined) return;
    if (entry.running) {
      entry.again = true;
      return;
    }
    entry.running = true;
    this.#track(this.#work(entry));
  }

  async #work(entry: PodEntry): Promise<void> {
    try {
      do {
        entry.again = false;
        try {
          await this.#sync(entry);
        } catch (err) {
          this.#log.warn({ ...this.#podFields(entry), err: errorText(err) }, 'pod sync failed');
          this.#wakeAt(entry, this.#now() + this.#timing.retryMs);
        }
      } while (entry.again && !this.#stopped);
    } finally {
      entry.running = false;
    }
  }

  #wakeAt(entry: PodEntry, atMs: number | undefined): void {
    if (atMs === undefined) return;
    entry.wakeAtMs = entry.wakeAtMs === undefined ? atMs : Math.min(entry.wakeAtMs, atMs);
  }

  #tick(): void {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    const now = this.#now();
    const relist = !this.#eventsLive || this.#relistDue || now - this.#lastRelistMs >= this.#timing.relistMs;
    if (relist) {
      this.#relistDue = false;
      this.#lastRelistMs = now;
    }
    const done = (relist ? this.#relist() : Promise.resolve())
      .then(
        () => {
          if (this.#relistFailing) this.#log.info('runtime relist works again');
          this.#relistFailing = false;
        },
        (err: unknown) => {
          if (!this.#relistFailing) this.#log.warn({ err: errorText(err) }, 'runtime relist failed; retrying');
          this.#relistFailing = true;
        },
      )
      .then(() => {
        const now = this.#now();
        const resync = now - this.#lastResyncMs >= this.#timing.resyncMs;
        if (resync) this.#lastResyncMs = now;
        for (const entry of this.#entries.values()) {
          if (resync || (entry.wakeAtMs !== undefined && entry.wakeAtMs <= now)) {
            entry.wakeAtMs = undefined;
            this.#enqueue(entry.uid);
          }
          if (entry.pendingStatus !== undefined && now >= entry.writeRetryAtMs) this.#flushStatus(entry);
        }
      })
      .finally(() => {
        this.#ticking = false;
      });
    this.#track(done);
  }

  /** #relist wakes the pods whose sandboxes or containers changed since the last relist or
   *  since their own syncs observed them. */
  async #relist(): Promise<void> {
    const now = await listManaged(this.#runtime);
    const changed = new Set<string>();
    const appeared = new Set<string>();
    for (const [id, o] of now) if (this.#known.get(id)?.state !== o.state) appeared.add(o.podUid);
    for (const [id, o] of this.#known) if (!now.has(id)) changed.add(o.podUid);
    this.#known = now;
    for (const id of this.#unconfirmedExits.keys()) if (!now.has(id)) this.#unconfirmedExits.delete(id);
    for (const uid of appeared) this.#entry(uid);
    for (const uid of new Set([...appeared, ...changed])) this.#enqueue(uid);
  }

  /** #sweepDisk finds volume and log directories of pods that are gone (deleted while the
   *  agent was down) and has their workers remove them. */
  async #sweepDisk(): Promise<void> {
    const uids = new Set(this.#volumes.podUids());
    try {
      for (const dir of await readdir(logsRoot(this.#settings.dataDir))) {
        const uid = dir.slice(dir.lastIndexOf('_') + 1);
        if (uid !== '') uids.add(uid);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const uid of uids) {
      if (this.#desiredUids?.has(uid) === true || this.#entries.has(uid)) continue;
      this.#entry(uid);
      this.#enqueue(uid);
    }
  }

  // ---- sync ----

  #podFields(entry: PodEntry): Record<string, string> {
    const meta = (entry.desired ?? entry.lastSeen)?.metadata;
    const sandbox = entry.observation?.sandboxes[0];
    const namespace = meta?.namespace ?? sandbox?.namespace ?? '';
    const name = meta?.name ?? sandbox?.name ?? '';
    return { pod: `${namespace}/${name}`, uid: entry.uid };
  }

  /** #wanted is the pod to run for an entry, or undefined when it is to go. */
  #wanted(entry: PodEntry): Pod | undefined {
    const pod = entry.desired;
    return pod === undefined || pod.metadata.deletionTimestamp !== undefined ? undefined : pod;
  }

  async #sync(entry: PodEntry): Promise<void> {
    if (this.#desiredUids === undefined) return; // adopted, but the desired set is not known yet
    const pod = this.#wanted(entry);
    const before = await this.#observe(entry);
    if (pod === undefined) {
      await this.#remove(entry, before);
      return;
    }
    entry.removed = false;
    const nowMs = this.#now();
    const specHashes = new Map(pod.spec.containers.map((c) => [c.name, this.#setup.containerHash(c)]));
    const plan = planPod({
      pod,
      observation: before,
      specHashes,
      backoff: this.#backoff,
      startFailures: entry.startFailures,
      livenessFailed: new Set(entry.livenessFailed.keys()),
      graceSeconds: pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS,
      nowMs,
    });
    const result = await this.#carryOut(entry, pod, plan);
    // A stopped container is restarted (or not) by the next sync, which sees it exited; after
    // ErrImagePull the next sync shows ImagePullBackOff until the retry.
    if (plan.killContainers.length > 0 || [...result.failed.values()].some((f) => f.reason === 'ErrImagePull')) {
      entry.again = true;
    }
    const after = result.acted ? await this.#observe(entry) : before;

    for (const id of entry.livenessFailed.keys()) {
      if (!after.containers.some((c) => c.id === id)) entry.livenessFailed.delete(id);
    }
    const sandbox = after.sandboxes[0];
    const podIP = sandbox !== undefined && sandbox.ready ? sandbox.ip : '';
    this.#prober.update(
      pod,
      after.containers
        .filter((c) => c.state === 'running')
        .map((c) => ({ podUid: entry.uid, podIP, containerName: c.name, containerId: c.id, startedAtMs: c.startedAtMs })),
    );

    const waiting = new Map<string, WaitingReason>(plan.waiting.map((w) => [w.name, { reason: w.reason, message: w.message }]));
    for (const [name, w] of result.failed) waiting.set(name, w);
    this.#logWaits(entry, waiting);
    const status = podStatus({
      pod,
      observation: after,
      waiting,
      ready: (name, id) => this.#prober.ready(entry.uid, name, id),
      hostIP: this.#settings.nodeIP,
      previous: entry.status ?? pod.status,
      nowMs: this.#now(),
    });
    entry.status = status;
    this.#queueStatus(entry, status);

    this.#wakeAt(entry, plan.wakeAtMs);
    for (const f of entry.startFailures.values()) if (f.retryAtMs > nowMs) this.#wakeAt(entry, f.retryAtMs);
    if (entry.sandboxRetryAtMs > nowMs) this.#wakeAt(entry, entry.sandboxRetryAtMs);
    else if (result.errors > 0) this.#wakeAt(entry, this.#now() + this.#timing.retryMs);
  }

  /** #observe reads the pod from the runtime and logs the containers that exited since. */
  async #observe(entry: PodEntry): Promise<PodObservation> {
    const observation = await this.#observer.observe(entry.uid);
    const before = entry.observation;
    if (before !== undefined) {
      for (const c of observation.containers) {
        const was = before.containers.find((b) => b.id === c.id);
        if (was?.state === 'running' && c.state === 'exited') {
          this.#log.info(
            { ...this.#podFields(entry), container: c.name, id: c.id, exitCode: c.exitCode, reason: c.reason },
            'container exited',
          );
        }
      }
    }
    entry.observation = observation;
    this.#rememberObjects(observation);
    return observation;
  }

  /** #rememberObjects makes a pod's objects, as its sync just observed them, what the next
   *  relist and runtime events compare with: what the sync did itself wakes nothing. */
  #rememberObjects(observation: PodObservation): void {
    const objects = observedObjects(observation);
    for (const [id, o] of this.#known) if (o.podUid === observation.uid) this.#known.delete(id);
    for (const [id, o] of objects) this.#known.set(id, o);
    for (const [id, exit] of this.#unconfirmedExits) {
      if (exit.podUid !== observation.uid) continue;
      const o = objects.get(id);
      if (o === undefined || hasEnded(o) || --exit.looksLeft <= 0) {
        this.#unconfirmedExits.delete(id);
        continue;
      }
      setTimeout(() => this.#enqueue(exit.podUid), EXIT_CONFIRM_MS).unref();
    }
  }

  #logWaits(entry: PodEntry, waiting: ReadonlyMap<string, WaitingReason>): void {
    for (const [name, w] of waiting) {
      const text = `${w.reason}: ${w.message}`;
      if (entry.loggedWaits.get(name) === text) continue;
      entry.loggedWaits.set(name, text);
      // Failed starts are logged where they fail; here the waits for a back-off.
      if (w.reason !== 'CrashLoopBackOff' && w.reason !== 'ImagePullBackOff') continue;
      this.#log.info({ ...this.#podFields(entry), container: name, reason: w.reason, message: w.message }, 'back-off');
    }
    for (const name of [...entry.loggedWaits.keys()]) if (!waiting.has(name)) entry.loggedWaits.delete(name);
  }

  /** #carryOut does a plan; pod-level errors are logged and counted, failed starts recorded. */
  async #carryOut(
    entry: PodEntry,
    pod: Pod,
    plan: PodPlan,
  ): Promise<{ acted: boolean; errors: number; failed: Map<string, WaitingReason> }> {
    const fields = this.#podFields(entry);
    const failed = new Map<string, WaitingReason>();
    let errors = 0;
    const attempt = async (what: string, extra: Record<string, unknown>, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        if (isNotFound(err)) return true;
        errors++;
        this.#log.warn({ ...fields, ...extra, err: errorText(err) }, `${what} failed`);
        return false;
      }
    };
    const acted =
      plan.killContainers.length + plan.stopSandboxes.length + plan.removeContainers.length + plan.removeSandboxes.length > 0 ||
      plan.createSandbox !== undefined ||
      plan.startContainers.length > 0;

    await Promise.all(
      plan.killContainers.map((k) =>
        attempt('stop container', { container: k.name, id: k.id }, async () => {
          await this.#runtime.stopContainer(k.id, await this.#preStop(entry, pod, k));
          const probeMessage = entry.livenessFailed.get(k.id);
          if (k.reason === 'liveness probe failed') {
            this.#log.info({ ...fields, container: k.name, id: k.id, probe: probeMessage }, 'container killed for liveness');
          } else {
            this.#log.info({ ...fields, container: k.name, id: k.id, reason: k.reason }, 'container stopped');
          }
        }),
      ),
    );
    for (const id of plan.stopSandboxes) {
      await attempt('stop sandbox', { sandbox: id }, async () => {
        await this.#runtime.stopPodSandbox(id);
        this.#log.info({ ...fields, sandbox: id }, 'sandbox stopped');
      });
    }
    for (const id of plan.removeContainers) {
      await attempt('remove container', { id }, () => this.#runtime.removeContainer(id));
    }
    for (const id of plan.removeSandboxes) {
      await attempt('remove sandbox', { sandbox: id }, () => this.#runtime.removePodSandbox(id));
    }

    let sandbox = plan.sandbox === undefined ? undefined : { id: plan.sandbox.id, attempt: plan.sandbox.attempt, ip: plan.sandbox.ip };
    if (plan.createSandbox !== undefined && this.#now() >= entry.sandboxRetryAtMs) {
      const sandboxAttempt = plan.createSandbox.attempt;
      const key = backoffKey(entry.uid, SANDBOX_BACKOFF_NAME);
      const started = await attempt('start sandbox', { attempt: sandboxAttempt }, async () => {
        try {
          const id = await this.#runtime.runPodSandbox(this.#setup.sandboxConfig(pod, this.#settings, sandboxAttempt));
          const network = (await this.#runtime.podSandboxStatus(id)).status?.network;
          const ip = network?.ip ?? '';
          this.#observer.rememberNetwork(entry.uid, id, ip, network?.additionalIps.map((p) => p.ip) ?? []);
          sandbox = { id, attempt: sandboxAttempt, ip };
          this.#log.info({ ...fields, sandbox: id, attempt: sandboxAttempt, ip }, 'sandbox started');
        } catch (err) {
          entry.sandboxError = errorText(err);
          throw err;
        }
      });
      if (started) {
        this.#startBackoff.reset(key);
        entry.sandboxError = '';
      } else entry.sandboxRetryAtMs = this.#now() + this.#startBackoff.next(key);
    }
    if (sandbox === undefined && entry.sandboxError !== '') {
      // The containers wait for the sandbox: say why in their status, not only in the log.
      const message = `the pod sandbox failed to start: ${entry.sandboxError}`;
      for (const c of pod.spec.containers) failed.set(c.name, { reason: 'ContainerCreating', message });
    }
    if (sandbox === undefined) return { acted, errors, failed };

    const refresh = this.#now() - entry.volumesAtMs >= this.#timing.volumeRefreshMs;
    if (plan.startContainers.length > 0 || (refresh && (pod.spec.volumes ?? []).length > 0)) {
      try {
        entry.volumePaths = await this.#volumes.setUp(pod, this.#source);
        entry.volumesAtMs = this.#now();
      } catch (err) {
        // A refresh that fails (the control plane unreachable) leaves the volumes as they are.
        this.#log.warn({ ...fields, err: errorText(err) }, 'volume set-up failed');
        entry.volumesAtMs = this.#now();
        for (const s of plan.startContainers) this.#recordFailure(entry, s.name, configReason(err), errorText(err), failed);
        return { acted, errors, failed };
      }
    }
    for (const start of plan.startContainers) {
      try {
        await this.#startContainer(entry, pod, sandbox, start);
        entry.startFailures.delete(start.name);
        this.#startBackoff.reset(backoffKey(entry.uid, start.name));
      } catch (err) {
        const reason = err instanceof StartError ? err.reason : 'RunContainerError';
        this.#log.warn({ ...fields, container: start.name, reason, err: errorText(err) }, 'container start failed');
        this.#recordFailure(entry, start.name, reason, errorText(err), failed);
      }
    }
    return { acted, errors, failed };
  }

  /**
   * #preStop runs the preStop hook of a container about to be stopped (when it has one and the
   * grace is above 0) and returns the stop signal's grace: what the hook left of it, at least
   * MIN_STOP_SECONDS after a hook.
   */
  async #preStop(entry: PodEntry, pod: Pod, k: KillContainer): Promise<number> {
    const container = pod.spec.containers.find((c) => c.name === k.name);
    const hook = container?.lifecycle?.preStop;
    if (container === undefined || hook === undefined || k.graceSeconds <= 0) return k.graceSeconds;
    const t0 = this.#now();
    const podIP = this.podIP(entry.uid);
    const result = await this.#lifecycle.runHook(hook, { podIP, containerId: k.id, container }, k.graceSeconds);
    const usedSeconds = Math.ceil((this.#now() - t0) / 1000);
    const fields = { ...this.#podFields(entry), container: k.name, id: k.id };
    if (result.ok) this.#log.info({ ...fields, seconds: usedSeconds }, 'preStop hook done');
    else this.#log.warn({ ...fields, err: result.message }, 'preStop hook failed; stopping the container anyway');
    return Math.max(MIN_STOP_SECONDS, k.graceSeconds - usedSeconds);
  }

  #recordFailure(entry: PodEntry, name: string, reason: string, message: string, failed: Map<string, WaitingReason>): void {
    const delayMs = this.#startBackoff.next(backoffKey(entry.uid, name));
    entry.startFailures.set(name, { reason, message, retryAtMs: this.#now() + delayMs });
    failed.set(name, { reason, message });
  }

  async #startContainer(
    entry: PodEntry,
    pod: Pod,
    sandbox: { id: string; attempt: number; ip: string },
    start: StartContainer,
  ): Promise<void> {
    const spec = pod.spec.containers.find((c) => c.name === start.name);
    if (spec === undefined) throw new Error(`container ${start.name} is not in the pod spec`);
    const where = `pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''} container ${spec.name}`;
    await this.#ensureImage(spec, where);

    let env: { key: string; value: string }[];
    let config: ReturnType<ContainerSetup['containerConfig']>;
    try {
      env = await this.#setup.resolveEnv(pod, spec, this.#source, {
        podIP: sandbox.ip,
        hostIP: this.#settings.nodeIP,
        nodeName: this.#settings.nodeName,
      });
      const mounts = this.#setup.containerMounts(pod, spec, entry.volumePaths ?? new Map());
      config = this.#setup.containerConfig(pod, spec, start.attempt, { env, mounts });
    } catch (err) {
      throw new StartError(configReason(err), errorText(err), { cause: err });
    }
    let id: string;
    try {
      id = await this.#runtime.createContainer(sandbox.id, config, this.#setup.sandboxConfig(pod, this.#settings, sandbox.attempt));
    } catch (err) {
      throw new StartError('CreateContainerError', `${where}: ${errorText(err)}`, { cause: err });
    }
    try {
      await this.#runtime.startContainer(id);
    } catch (err) {
      throw new StartError('RunContainerError', `${where}: ${errorText(err)}`, { cause: err });
    }
    if (start.restartOf !== undefined) this.#backoff.recordRestart(backoffKey(entry.uid, spec.name), start.restartOf);
    this.#log.info({ ...this.#podFields(entry), container: spec.name, id, attempt: start.attempt, image: spec.image }, 'container started');
    const postStart = spec.lifecycle?.postStart;
    if (postStart === undefined) return;
    const grace = pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    const result = await this.#lifecycle.runHook(postStart, { podIP: sandbox.ip, containerId: id, container: spec }, grace);
    if (result.ok) return;
    // As Kubernetes: the container is killed; its restart policy decides what follows.
    await this.#runtime.stopContainer(id, 0);
    throw new StartError('PostStartHookError', `${where}: postStart hook failed: ${result.message}`);
  }

  /** #ensureImage pulls the container's image as its imagePullPolicy says. */
  async #ensureImage(spec: Container, where: string): Promise<void> {
    const policy = spec.imagePullPolicy ?? imagePullPolicyFor(spec.image);
    let present: boolean;
    try {
      present = policy !== 'Always' && (await this.#runtime.imageStatus(spec.image)) !== undefined;
    } catch (err) {
      throw new StartError('ErrImagePull', `${where}: image status of "${spec.image}": ${errorText(err)}`, { cause: err });
    }
    if (present) return;
    if (policy === 'Never') {
      throw new StartError('ErrImageNeverPull', `Container image "${spec.image}" is not present with pull policy of Never`);
    }
    try {
      await this.#runtime.pullImage(spec.image);
    } catch (err) {
      throw new StartError('ErrImagePull', `${where}: failed to pull image "${spec.image}": ${errorText(err)}`, { cause: err });
    }
  }

  /**
   * #remove stops and removes everything of a pod that is no longer wanted, then deletes a
   * terminating pod for good.
   */
  async #remove(entry: PodEntry, observation: PodObservation): Promise<void> {
    const had = observation.sandboxes.length + observation.containers.length > 0;
    const terminating = entry.desired?.metadata.deletionTimestamp !== undefined ? entry.desired : undefined;
    const podIP = this.podIP(entry.uid);
    if (terminating !== undefined && !entry.drained && podIP !== '' && observation.containers.some((c) => c.state === 'running')) {
      const graceLeftMs = (remainingGraceSeconds(terminating, this.#now()) ?? 0) * 1000;
      const t0 = this.#now();
      await this.#lifecycle.drain(terminating, podIP, Math.min(DRAIN_WAIT_MAX_MS, graceLeftMs));
      this.#log.info({ ...this.#podFields(entry), ip: podIP, ms: this.#now() - t0 }, 'no service sends traffic to the pod any more; stopping it');
    }
    entry.drained = true;
    if (!entry.removed || had) await this.#removeAll(entry, observation, had);
    const pod = entry.desired;
    if (pod !== undefined && pod.metadata.deletionTimestamp !== undefined && !entry.deleted) {
      await this.#podDeleter(pod);
      entry.deleted = true;
      this.#log.info({ ...this.#podFields(entry) }, 'pod deleted');
    }
    if (entry.desired === undefined) this.#entries.delete(entry.uid);
  }

  async #removeAll(entry: PodEntry, observation: PodObservation, had: boolean): Promise<void> {
    const last = entry.lastSeen;
    const annotated = [...observation.containers, ...observation.sandboxes]
      .map((o) => o.graceSeconds)
      .filter((g) => g !== undefined);
    const graceSeconds =
      remainingGraceSeconds(last, this.#now()) ??
      last?.spec.terminationGracePeriodSeconds ??
      (annotated.length > 0 ? Math.max(...annotated) : DEFAULT_GRACE_SECONDS);
    const plan = planPod({
      pod: undefined,
      observation,
      specHashes: new Map(),
      backoff: this.#backoff,
      startFailures: new Map(),
      livenessFailed: new Set(),
      graceSeconds,
      nowMs: this.#now(),
    });
    const result = await this.#carryOut(entry, last ?? placeholderPod(entry.uid), plan);
    if (result.errors > 0) throw new Error(`removing pod ${this.#podFields(entry).pod} left ${result.errors} errors`);
    await this.#volumes.tearDown(entry.uid);
    await this.#removeLogDirs(entry.uid);
    this.#prober.remove(entry.uid);
    this.#backoff.forgetPod(entry.uid);
    this.#startBackoff.forgetPod(entry.uid);
    this.#observer.forget(entry.uid);
    if (had || last !== undefined) this.#log.info({ ...this.#podFields(entry) }, 'pod removed');
    entry.removed = true;
  }

  async #removeLogDirs(uid: string): Promise<void> {
    const root = logsRoot(this.#settings.dataDir);
    let dirs: string[];
    try {
      dirs = await readdir(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const dir of dirs) if (dir.endsWith(`_${uid}`)) await rm(join(root, dir), { recursive: true, force: true });
  }

  // ---- status ----

  #queueStatus(entry: PodEntry, status: PodStatus): void {
    const key = statusKey(status);
    if (!entry.apiDiffers && key === (entry.pendingStatus?.key ?? entry.writtenKey)) return;
    entry.pendingStatus = { status, key };
    this.#flushStatus(entry);
  }

  #flushStatus(entry: PodEntry): void {
    if (entry.writingKey !== undefined || entry.pendingStatus === undefined || this.#stopped) return;
    const pod = entry.desired;
    if (pod === undefined) {
      entry.pendingStatus = undefined;
      return;
    }
    const { status, key } = entry.pendingStatus;
    entry.pendingStatus = undefined;
    entry.writingKey = key;
    entry.apiDiffers = false;
    const write = this.#statusWriter(pod, status).then(
      () => {
        entry.writtenKey = key;
        if (entry.writeFailing) this.#log.info({ ...this.#podFields(entry) }, 'pod status written again');
        entry.writeFailing = false;
      },
      (err: unknown) => {
        entry.pendingStatus ??= { status, key };
        entry.writeRetryAtMs = this.#now() + this.#timing.retryMs;
        if (!entry.writeFailing) this.#log.warn({ ...this.#podFields(entry), err: errorText(err) }, 'pod status write failed; retrying');
        entry.writeFailing = true;
      },
    );
    this.#track(
      write.finally(() => {
        entry.writingKey = undefined;
        if (entry.pendingStatus !== undefined && this.#now() >= entry.writeRetryAtMs) this.#flushStatus(entry);
      }),
    );
  }
}

/**
 * remainingGraceSeconds is what is left of a terminating pod's grace period at nowMs: whole
 * seconds until its deletionTimestamp, at most its deletionGracePeriodSeconds, 0 once the time
 * has passed. Undefined for a pod that is not terminating (or has no readable time).
 */
export function remainingGraceSeconds(pod: Pod | undefined, nowMs: number): number | undefined {
  const at = Date.parse(pod?.metadata.deletionTimestamp ?? '');
  if (pod === undefined || Number.isNaN(at)) return undefined;
  const left = Math.max(0, Math.ceil((at - nowMs) / 1000));
  const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds;
  return grace === undefined ? left : Math.min(left, grace);
}

/** placeholderPod stands for a pod the agent never saw (an orphan found in the runtime or on disk). */
function placeholderPod(uid: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { uid }, spec: { containers: [] } };
}
