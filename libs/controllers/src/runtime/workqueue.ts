// workqueue.ts: the work queue every controller runs on. Keys (usually "namespace/name") are
// deduplicated: a key added many times before it is processed is processed once, and a key is
// never processed by two workers at once (added while it is processed, it runs again after).
// A handler that throws has its key retried after a per-key exponential delay; one that
// succeeds resets the key's delay.

export interface WorkQueueOptions {
  /** First retry delay, ms. Default 50. */
  readonly baseDelayMs?: number;
  /** Longest retry delay, ms. Default 30,000. */
  readonly maxDelayMs?: number;
}

/** retryDelay is the delay before the n-th retry (n from 1): base * 2^(n-1), at most max. */
export function retryDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

export class WorkQueue {
  readonly #baseMs: number;
  readonly #maxMs: number;
  /** Keys waiting, in order; `#queued` mirrors it for dedup. */
  readonly #order: string[] = [];
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  /** Keys added while active: queued again when their handler ends. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Idle workers waiting for a key. */
  readonly #idle = new Set<() => void>();
  #shutDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#baseMs = opts.baseDelayMs ?? 50;
    this.#maxMs = opts.maxDelayMs ?? 30_000;
  }

  /** add queues key now (a pending delayed add of it is dropped). */
  add(key: string): void {
    if (this.#shutDown) return;
    const t = this.#timers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      this.#timers.delete(key);
    }
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#wakeAll();
  }

  #wakeAll(): void {
    for (const wake of this.#idle) wake();
    this.#idle.clear();
  }

  /** addAfter queues key after ms (an earlier pending addAfter of it wins). */
  addAfter(key: string, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) return this.add(key);
    if (this.#timers.has(key) || this.#queued.has(key)) return;
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.set(key, t);
  }

  /** retry queues key after its next back-off delay; returns that delay. */
  retry(key: string): number {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    const delay = retryDelay(n, this.#baseMs, this.#maxMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** forget resets key's back-off. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** failures is how many times in a row key has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  get length(): number {
    return this.#order.length;
  }

  /**
   * run processes keys with `concurrency` workers until signal aborts (then it waits for the
   * handlers under way and resolves). A handler that throws is reported to onError and its key
   * retried with back-off; one that resolves resets the key's back-off.
   */
  async run(signal: AbortSignal, concurrency: number, handler: (key: string) => Promise<void>, onError: (key: string, err: unknown, retryInMs: number) => void): Promise<void> {
    const stop = (): void => {
      this.#shutDown = true;
      for (const t of this.#timers.values()) clearTimeout(t);
      this.#timers.clear();
      this.#wakeAll();
    };
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    const worker = async (): Promise<void> => {
      while (!this.#shutDown) {
        const key = this.#order.shift();
        if (key === undefined) {
          await new Promise<void>((resolve) => this.#idle.add(resolve));
          continue;
        }
        this.#queued.delete(key);
        this.#active.add(key);
        try {
          await handler(key);
          this.forget(key);
        } catch (err) {
          if (!this.#shutDown) onError(key, err, this.retry(key));
        } finally {
          this.#active.delete(key);
          if (this.#dirty.delete(key)) this.add(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
    signal.removeEventListener('abort', stop);
  }
}
