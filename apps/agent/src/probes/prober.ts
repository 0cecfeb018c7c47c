// prober.ts: the liveness and readiness probes of the running containers of this node's pods.
//
// Every running container with a probe gets a worker per probe kind, keyed by container id:
// it waits initialDelaySeconds after the container started, then runs the probe every
// periodSeconds (probe.ts does one run, bounded by timeoutSeconds). The result flips to
// success after successThreshold consecutive successes and to failure after failureThreshold
// consecutive failures. A readiness flip is reported with onReadinessChange (the pod sync
// writes the pod's status). A liveness failure is reported once per container id with
// onLivenessFailure (the pod sync kills and restarts the container) and that container is not
// probed again; its successor has a new id and a new worker.
import type { Logger } from 'pino';
import type { Container, Pod, Probe } from '@tugboat/api';
import { Prober } from './probe.ts';
import type { ExecInContainer, ProbeSubject } from './probe.ts';

export type { ExecInContainer } from './probe.ts';

export type ProbeKind = 'liveness' | 'readiness';

/** ProbeTarget is one running container to probe. */
export interface ProbeTarget {
  podUid: string;
  podIP: string;
  containerName: string;
  containerId: string;
  /** startedAtMs is when the container started (ms since the epoch). */
  startedAtMs: number;
}

/** ProbeManagerOptions configure a ProbeManager. */
export interface ProbeManagerOptions {
  /** exec runs exec probes in the container (CRI ExecSync). */
  exec: ExecInContainer;
  log: Logger;
  /** onLivenessFailure is called once per container id whose liveness probe failed
   *  failureThreshold times in a row; message says how the last run failed. */
  onLivenessFailure: (t: ProbeTarget, message: string) => void;
  /** onReadinessChange is called when a container of the pod becomes ready or unready. */
  onReadinessChange: (podUid: string) => void;
}

/** ProbeState is where a probe stands: its result and the runs in a row that agree. */
export interface ProbeState {
  /** result is the current outcome: ready, or alive. */
  readonly result: boolean;
  readonly successes: number;
  readonly failures: number;
}

const DEFAULT_PERIOD_SECONDS = 10;
const DEFAULT_THRESHOLD_SUCCESS = 1;
const DEFAULT_THRESHOLD_FAILURE = 3;

/** initialProbeState: a container is alive until its liveness probe fails, and not ready until
 *  its readiness probe succeeds. */
export function initialProbeState(kind: ProbeKind): ProbeState {
  return { result: kind === 'liveness', successes: 0, failures: 0 };
}

/** nextProbeState counts one run (ok or not) and flips the result at the probe's thresholds. */
export function nextProbeState(state: ProbeState, ok: boolean, probe: Probe): ProbeState {
  const successes = ok ? state.successes + 1 : 0;
  const failures = ok ? 0 : state.failures + 1;
  let result = state.result;
  if (ok && successes >= (probe.successThreshold ?? DEFAULT_THRESHOLD_SUCCESS)) result = true;
  if (!ok && failures >= (probe.failureThreshold ?? DEFAULT_THRESHOLD_FAILURE)) result = false;
  return { result, successes, failures };
}

/** ProbeWorker probes one container with one probe until stopped. */
class ProbeWorker {
  readonly kind: ProbeKind;
  readonly probe: Probe;
  /** spec is the probe as JSON: a changed probe replaces the worker. */
  readonly spec: string;
  state: ProbeState;
  stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(kind: ProbeKind, probe: Probe) {
    this.kind = kind;
    this.probe = probe;
    this.spec = JSON.stringify(probe);
    this.state = initialProbeState(kind);
  }

  /** start runs probeOnce at the first due time and then every period until stopped; each
   *  run's outcome goes to onResult. */
  start(startedAtMs: number, probeOnce: () => Promise<{ ok: boolean; message: string }>, onResult: (ok: boolean, message: string) => void): void {
    const periodMs = (this.probe.periodSeconds ?? DEFAULT_PERIOD_SECONDS) * 1000;
    const tick = async (): Promise<void> => {
      this.#timer = undefined;
      const began = Date.now();
      const { ok, message } = await probeOnce();
      if (this.stopped) return;
      onResult(ok, message);
      if (!this.stopped) this.#timer = setTimeout(() => void tick(), Math.max(0, began + periodMs - Date.now()));
    };
    const firstMs = Math.max(0, startedAtMs + (this.probe.initialDelaySeconds ?? 0) * 1000 - Date.now());
    this.#timer = setTimeout(() => void tick(), firstMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** ContainerProbes are the workers of one running container. */
interface ContainerProbes {
  readonly target: ProbeTarget;
  readonly pod: string;
  readonly workers: Map<ProbeKind, ProbeWorker>;
}

const probeOf = (c: Container | undefined, kind: ProbeKind): Probe | undefined =>
  kind === 'liveness' ? c?.livenessProbe : c?.readinessProbe;

/** ProbeManager runs the probes of every running container of this node's pods. */
export class ProbeManager {
  readonly #opts: ProbeManagerOptions;
  readonly #log: Logger;
  readonly #prober: Prober;
  /** #pods: pod uid -> container id -> its probes. */
  readonly #pods = new Map<string, Map<string, ContainerProbes>>();
  #stopped = false;

  constructor(opts: ProbeManagerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#prober = new Prober(opts.exec);
  }

  /** update sets the running containers of one pod: probes start for new container ids (and
   *  for probes whose spec changed) and stop for ids no longer listed. */
  update(pod: Pod, running: readonly ProbeTarget[]): void {
    if (this.#stopped) return;
    const uid = pod.metadata.uid ?? '';
    const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
    const containers = this.#pods.get(uid) ?? new Map<string, ContainerProbes>();
    const listed = new Set(running.map((t) => t.containerId));
    for (const [id, c] of containers) {
      if (!listed.has(id)) {
        for (const w of c.workers.values()) w.stop();
        containers.delete(id);
      }
    }
    let readinessReset = false;
    for (const target of running) {
      let c = containers.get(target.containerId);
      if (c === undefined) {
        c = { target, pod: podName, workers: new Map() };
        containers.set(target.containerId, c);
      }
      const spec = pod.spec.containers.find((s) => s.name === target.containerName);
      for (const kind of ['liveness', 'readiness'] as const) {
        const probe = probeOf(spec, kind);
        const old = c.workers.get(kind);
        if (old !== undefined && probe !== undefined && old.spec === JSON.stringify(probe)) continue;
        if (old !== undefined) {
          old.stop();
          c.workers.delete(kind);
          if (kind === 'readiness' && old.state.result) readinessReset = true;
        }
        if (probe !== undefined) this.#startWorker(c, kind, probe, spec);
      }
    }
    if (containers.size === 0) this.#pods.delete(uid);
    else this.#pods.set(uid, containers);
    if (readinessReset) this.#opts.onReadinessChange(uid);
  }

  /** ready is the readiness of a container: true when it is running and has no readiness
   *  probe; with one, false until the probe succeeds (successThreshold times). */
  ready(podUid: string, containerName: string, containerId: string): boolean {
    const c = this.#pods.get(podUid)?.get(containerId);
    if (c === undefined || c.target.containerName !== containerName) return false;
    return c.workers.get('readiness')?.state.result ?? true;
  }

  /** remove stops every probe of the pod. */
  remove(podUid: string): void {
    for (const c of this.#pods.get(podUid)?.values() ?? []) for (const w of c.workers.values()) w.stop();
    this.#pods.delete(podUid);
  }

  /** stop stops every probe; the manager probes nothing after it. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const uid of [...this.#pods.keys()]) this.remove(uid);
    this.#prober.close().catch((err: unknown) => this.#log.warn({ err }, 'closing the HTTP probe connections failed'));
  }

  #startWorker(c: ContainerProbes, kind: ProbeKind, probe: Probe, spec: Container | undefined): void {
    const w = new ProbeWorker(kind, probe);
    c.workers.set(kind, w);
    const subject: ProbeSubject = {
      podIP: c.target.podIP,
      containerId: c.target.containerId,
      containerName: c.target.containerName,
      ports: spec?.ports ?? [],
    };
    const fields = { pod: c.pod, container: c.target.containerName, containerId: c.target.containerId, probe: kind };
    w.start(
      c.target.startedAtMs,
      () => this.#prober.run(probe, subject),
      (ok, message) => {
        const before = w.state.result;
        w.state = nextProbeState(w.state, ok, probe);
        if (!ok) this.#log.debug({ ...fields, failures: w.state.failures, message }, 'probe failed');
        if (w.state.result === before) return;
        if (kind === 'readiness') {
          this.#log.info({ ...fields, ready: w.state.result, ...(ok ? {} : { message }) }, 'readiness changed');
          this.#notify(() => this.#opts.onReadinessChange(c.target.podUid));
        } else {
          w.stop();
          this.#log.info({ ...fields, failures: w.state.failures, message }, 'liveness probe failed; container to be restarted');
          this.#notify(() => this.#opts.onLivenessFailure(c.target, message));
        }
      },
    );
  }

  /** #notify calls back the pod sync; its failure is logged, not thrown into a timer. */
  #notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err }, 'probe result handler failed');
    }
  }
}
