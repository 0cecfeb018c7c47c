// lifecycle.ts: what happens around a container's start and stop besides the runtime calls,
// in Kubernetes' order:
//
// - postStart runs right after the container starts; until it returns, the pod's sync waits.
//   A failed postStart stops the container (reason FailedPostStartHook), and its restart policy
//   decides what follows.
// - Stopping a pod that is being deleted first waits (bounded) until no service sends it
//   traffic any more: the Endpoints controller drops a terminating pod at once, and every
//   node's service proxy rewrites its rules from that, so this wait is short.
// - Then each running container's preStop runs (exec in the container, an HTTP GET to the pod,
//   or a sleep), within the grace period; then the stop signal, with what is left of the grace
//   period (at least MIN_STOP_SECONDS) before SIGKILL. preStop runs for every stop the agent
//   decides (deletion, a failed liveness probe, a changed spec), never when the grace is 0.
//
// exec and httpGet handlers run through the probes' Prober, so a hook and a probe of the same
// kind behave the same.
import type { Container, LifecycleHandler, Pod } from '@tugboat/api';
import { Prober } from '../probes/probe.ts';
import type { ExecInContainer, ProbeResult } from '../probes/probe.ts';

/** MIN_STOP_SECONDS: the stop signal's grace after a preStop that used the whole grace period (as Kubernetes). */
export const MIN_STOP_SECONDS = 2;

/** HookTarget is the running container a hook is for. */
export interface HookTarget {
  readonly podIP: string;
  readonly containerId: string;
  readonly container: Container;
}

/** PodLifecycle is what the pod manager asks around container starts and stops (tests fill it). */
export interface PodLifecycle {
  /** runHook runs a handler within timeoutSeconds; it never throws (a problem is a failure). */
  runHook(handler: LifecycleHandler, target: HookTarget, timeoutSeconds: number): Promise<ProbeResult>;
  /** drain resolves once no service sends traffic to the pod's IP, or after timeoutMs. */
  drain(pod: Pod, podIP: string, timeoutMs: number): Promise<void>;
}

/** LifecycleHooks runs hooks for real: exec through CRI, HTTP through undici, sleep as a timer. */
export class LifecycleHooks implements Pick<PodLifecycle, 'runHook'> {
  readonly #prober: Prober;

  constructor(exec: ExecInContainer) {
    this.#prober = new Prober(exec);
  }

  async runHook(handler: LifecycleHandler, target: HookTarget, timeoutSeconds: number): Promise<ProbeResult> {
    const seconds = Math.max(1, timeoutSeconds);
    if (handler.sleep !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(handler.sleep!.seconds, timeoutSeconds) * 1000));
      return { ok: true, message: '' };
    }
    const subject = { podIP: target.podIP, containerId: target.containerId, containerName: target.container.name, ports: target.container.ports ?? [] };
    if (handler.exec !== undefined) return this.#prober.run({ exec: handler.exec, timeoutSeconds: seconds }, subject);
    if (handler.httpGet !== undefined) return this.#prober.run({ httpGet: handler.httpGet, timeoutSeconds: seconds }, subject);
    return { ok: false, message: 'the hook has no exec, httpGet or sleep' };
  }

  async close(): Promise<void> {
    await this.#prober.close();
  }
}
