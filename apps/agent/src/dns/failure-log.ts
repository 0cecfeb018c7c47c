// failure-log.ts: at most one warning per kind of failure per interval.
//
// A DNS server behind a dead upstream would otherwise write a line per query. FailureLog writes
// the first failure of a kind at warn, then at most one warn line per kind per intervalMs
// (default 60 s), carrying in `repeats` how many failures of that kind it wrote at debug level
// since its last warn line. Kinds are a few fixed strings chosen by the caller (such as
// "upstream timeout 10.0.0.2:53/udp"), so the table stays small.
import type { Logger } from 'pino';

/** FailureLogOptions configure a FailureLog. */
export interface FailureLogOptions {
  /** intervalMs is the least time between two warn lines of one kind. Default 60 s. */
  intervalMs?: number | undefined;
  /** nowMs reads the clock (ms). Default Date.now. */
  nowMs?: (() => number) | undefined;
}

/** FailureLog writes failures, rate limited per kind (see the module comment). */
export class FailureLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #nowMs: () => number;
  readonly #kinds = new Map<string, { lastMs: number; repeats: number }>();

  constructor(log: Logger, opts: FailureLogOptions = {}) {
    this.#log = log;
    this.#intervalMs = opts.intervalMs ?? 60_000;
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  /** report writes one failure of kind: at warn when none of its kind was in the last
   *  interval, else at debug. */
  report(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#nowMs();
    const seen = this.#kinds.get(kind);
    if (seen !== undefined && now - seen.lastMs < this.#intervalMs) {
      seen.repeats++;
      this.#log.debug({ kind, ...fields }, message);
      return;
    }
    this.#log.warn({ kind, ...fields, ...(seen !== undefined && seen.repeats > 0 ? { repeats: seen.repeats } : {}) }, message);
    this.#kinds.set(kind, { lastMs: now, repeats: 0 });
  }
}
