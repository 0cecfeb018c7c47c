// backoff.ts: the restart back-off of containers, one entry per pod uid + container name.
//
// A container that exits is restarted at once the first time; after that each restart waits
// for the current delay, counted from when the container finished, and the delay doubles up
// to a maximum (10 s, 20 s, 40 s, ... 300 s by default). A container that ran for
// resetAfterRunMs before exiting starts over from no delay. Time is passed in (milliseconds).

export interface BackoffPolicy {
  /** initialMs is the delay before the second restart. Default 10 s. */
  initialMs: number;
  /** maxMs caps the delay. Default 300 s. */
  maxMs: number;
  /** resetAfterRunMs: a run at least this long forgets the back-off. Default 10 minutes. */
  resetAfterRunMs: number;
}

export const DEFAULT_BACKOFF_POLICY: Readonly<BackoffPolicy> = Object.freeze({
  initialMs: 10_000,
  maxMs: 300_000,
  resetAfterRunMs: 600_000,
});

/** ContainerRun is one finished run of a container, in milliseconds since the epoch. */
export interface ContainerRun {
  startedAtMs: number;
  finishedAtMs: number;
}

/** backoffKey names the back-off entry of a pod's container. */
export function backoffKey(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`;
}

/** BackoffView is what the planner reads of the back-off (it never changes it). */
export interface BackoffView {
  /** remainingMs is how long a restart of key must still wait after the run ended (0: now). */
  remainingMs(key: string, run: ContainerRun, nowMs: number): number;
  /** delayMs is the delay the entry of key currently imposes (0 when there is none). */
  delayMs(key: string): number;
}

/** RestartBackoff holds the back-off entries. */
export class RestartBackoff implements BackoffView {
  readonly policy: Readonly<BackoffPolicy>;
  readonly #delays = new Map<string, number>();

  constructor(policy: Partial<BackoffPolicy> = {}) {
    this.policy = { ...DEFAULT_BACKOFF_POLICY, ...policy };
    if (!(this.policy.initialMs > 0 && this.policy.maxMs >= this.policy.initialMs)) {
      throw new Error(`back-off: want 0 < initialMs <= maxMs, got ${this.policy.initialMs} and ${this.policy.maxMs}`);
    }
  }

  remainingMs(key: string, run: ContainerRun, nowMs: number): number {
    if (this.#ranLongEnough(run)) return 0;
    const delay = this.#delays.get(key);
    return delay === undefined ? 0 : Math.max(0, run.finishedAtMs + delay - nowMs);
  }

  delayMs(key: string): number {
    return this.#delays.get(key) ?? 0;
  }

  /** recordRestart notes that key is restarted after run; the next restart waits longer. */
  recordRestart(key: string, run: ContainerRun): void {
    if (this.#ranLongEnough(run)) this.#delays.delete(key);
    this.next(key);
  }

  /** next advances the entry of key (initial, then doubled up to the maximum) and returns it. */
  next(key: string): number {
    const delay = this.#delays.get(key);
    const nextDelay = delay === undefined ? this.policy.initialMs : Math.min(delay * 2, this.policy.maxMs);
    this.#delays.set(key, nextDelay);
    return nextDelay;
  }

  reset(key: string): void {
    this.#delays.delete(key);
  }

  /** forgetPod drops every entry of a pod. */
  forgetPod(podUid: string): void {
    const prefix = `${podUid}/`;
    for (const key of [...this.#delays.keys()]) if (key.startsWith(prefix)) this.#delays.delete(key);
  }

  #ranLongEnough(run: ContainerRun): boolean {
    return run.startedAtMs > 0 && run.finishedAtMs - run.startedAtMs >= this.policy.resetAfterRunMs;
  }
}

/** formatDuration writes milliseconds the way the back-off messages show them: 10s, 1m20s, 5m0s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const minutes = Math.floor(totalSeconds / 60);
  return `${minutes}m${totalSeconds % 60}s`;
}
