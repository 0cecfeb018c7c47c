/**
 * Watch: a pull-based async iterator over the store's changes after a revision.
 *
 * Why an async iterator and not a callback: the consumer (a gRPC server-streaming handler,
 * an informer) pulls one event when it is ready for it, so backpressure is the consumer's pace
 * and nothing is queued per watcher. A watcher is only a cursor into the shared, bounded
 * History ring: events from the kept history and live events come from the same sequence, so
 * there is no seam where one could be lost or repeated. A watcher too slow for the ring finds
 * its cursor evicted and ends with ExpiredError (the client lists again); memory never grows
 * with the number or slowness of watchers.
 */
import { ExpiredError } from './errors.ts';
import type { History } from './history.ts';
import type { WatchEvent } from './types.ts';

/** WatchOptions selects what a watch delivers. */
export interface WatchOptions {
  /** Deliver changes with revision > fromRevision (0 = from the beginning of kept history). */
  readonly fromRevision: number;
  /** Only objects of this kind. */
  readonly kind?: string;
  /** Only objects in this namespace ('' = cluster-scoped objects only). */
  readonly namespace?: string;
  /** Further selection (e.g. a field selector); must be quick and must not throw. */
  readonly filter?: (event: WatchEvent) => boolean;
  /** Aborting ends the watch: a pending `next()` resolves `{done: true}`. */
  readonly signal?: AbortSignal;
}

/** WatchSource is what a Watch needs from the store (implemented by ObjectStore). */
export interface WatchSource {
  readonly history: History;
  /** Last applied revision. */
  readonly revision: number;
  /** Bumped by every restore from a snapshot. */
  readonly epoch: number;
  /** Revision the last restore jumped to, the store's revision before it, and history's `next` then. */
  readonly lastRestore: { readonly revision: number; readonly revisionBefore: number; readonly seq: number };
  addWaiter(wake: () => void): void;
  removeWaiter(wake: () => void): void;
}

interface Pending {
  readonly resolve: (r: IteratorResult<WatchEvent>) => void;
  readonly reject: (e: Error) => void;
}

const doneResult: IteratorResult<WatchEvent> = Object.freeze({ done: true, value: undefined });

/**
 * Watch delivers, in order and exactly once, every change with revision > `fromRevision` that
 * matches its options: first those still in history, then live ones as they are applied.
 * Iterate it with `for await`; `cancel()` (or `break`, or the abort signal) ends it.
 * `next()` rejects with ExpiredError if the events it would deliver next were evicted
 * (the watcher fell too far behind) or a snapshot restore skipped past them; after that, and
 * after cancel, it resolves `{done: true}`.
 */
export class Watch implements AsyncIterableIterator<WatchEvent> {
  private readonly src: WatchSource;
  private readonly kind: string | undefined;
  private readonly namespace: string | undefined;
  private readonly filter: ((event: WatchEvent) => boolean) | undefined;
  private readonly signal: AbortSignal | undefined;
  /** Deliver only events with revision > from. */
  private from: number;
  /** Seq of the next event to look at. */
  private cursor: number;
  private epoch: number;
  private ended = false;
  private pending: Pending | null = null;
  private last: Promise<IteratorResult<WatchEvent>> | null = null;
  private readonly wake = (): void => this.onWake();
  private readonly onAbort = (): void => this.cancel();

  /** Use ObjectStore.watch. Throws ExpiredError if `fromRevision` is older than the kept history. */
  constructor(src: WatchSource, opts: WatchOptions) {
    const from = opts.fromRevision;
    if (!Number.isSafeInteger(from) || from < 0) throw new RangeError(`watch: fromRevision must be a non-negative integer, got ${from}`);
    const compact = src.history.compactRevision;
    if (from < compact) {
      throw new ExpiredError(`watch from revision ${from}: history starts after revision ${compact}; list again and watch from the list's revision`, {
        requested: from,
        oldestRevision: compact,
      });
    }
    this.src = src;
    this.kind = opts.kind;
    this.namespace = opts.namespace;
    this.filter = opts.filter;
    this.signal = opts.signal;
    this.from = from;
    this.cursor = src.history.seqAfter(from);
    this.epoch = src.epoch;
    if (opts.signal !== undefined) {
      if (opts.signal.aborted) this.ended = true;
      else opts.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** done tells whether the watch has ended (cancelled, aborted or expired). */
  get done(): boolean {
    return this.ended;
  }

  /**
   * progressRevision: every matching change with revision <= this has been delivered (or was
   * never wanted). A client may resume with `fromRevision` = this; serve it as a bookmark.
   */
  get progressRevision(): number {
    const h = this.src.history;
    if (this.epoch !== this.src.epoch) return this.from;
    if (this.cursor >= h.next) return Math.max(this.from, this.src.revision);
    if (this.cursor < h.first) return this.from;
    return Math.max(this.from, h.at(this.cursor).revision - 1);
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    // A call while another is outstanding runs after it (for-await never does this).
    if (this.pending !== null && this.last !== null) {
      const p = this.last.then(
        () => this.next(),
        () => this.next(),
      );
      this.last = p;
      return p;
    }
    const p = this.nextNow();
    this.last = p;
    return p;
  }

  /** return ends the watch (called by `break` in `for await`). */
  return(): Promise<IteratorResult<WatchEvent>> {
    this.cancel();
    return Promise.resolve(doneResult);
  }

  /** cancel ends the watch; a pending `next()` resolves `{done: true}`. Safe to call twice. */
  cancel(): void {
    if (this.ended && this.pending === null) return;
    this.end();
    const p = this.pending;
    this.pending = null;
    p?.resolve(doneResult);
  }

  private nextNow(): Promise<IteratorResult<WatchEvent>> {
    if (this.ended) return Promise.resolve(doneResult);
    let ev: WatchEvent | undefined;
    try {
      ev = this.poll();
    } catch (e) {
      this.end();
      return Promise.reject(e as Error);
    }
    if (ev !== undefined) return Promise.resolve({ done: false, value: ev });
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.src.addWaiter(this.wake);
    });
  }

  private end(): void {
    this.ended = true;
    this.src.removeWaiter(this.wake);
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  private onWake(): void {
    const p = this.pending;
    if (p === null || this.ended) return;
    this.pending = null;
    let ev: WatchEvent | undefined;
    try {
      ev = this.poll();
    } catch (e) {
      this.end();
      p.reject(e as Error);
      return;
    }
    if (ev !== undefined) {
      p.resolve({ done: false, value: ev });
    } else {
      this.pending = p;
      this.src.addWaiter(this.wake);
    }
  }

  /** poll returns the next matching event, or undefined when caught up. Throws ExpiredError. */
  private poll(): WatchEvent | undefined {
    const src = this.src;
    const h = src.history;
    if (this.epoch !== src.epoch) this.afterRestore();
    if (this.cursor < h.first) {
      throw new ExpiredError(
        `watch fell behind: events it had not read were dropped from history (it keeps ${h.maxEvents} events, ${h.maxBytes} bytes); list again`,
        { requested: this.from, oldestRevision: h.compactRevision },
      );
    }
    const end = h.next;
    while (this.cursor < end) {
      const ev = h.at(this.cursor++);
      if (ev.revision > this.from && this.matches(ev)) return ev;
    }
    return undefined;
  }

  /**
   * afterRestore: the store jumped to a snapshot's revision S. If this watcher had seen every
   * change up to S it continues with the new history; otherwise the changes between are gone.
   */
  private afterRestore(): void {
    const src = this.src;
    const r = src.lastRestore;
    let seen = this.from;
    if (src.epoch === this.epoch + 1 && this.cursor >= r.seq) seen = Math.max(seen, r.revisionBefore);
    if (seen < r.revision) {
      throw new ExpiredError(
        `watch: the store was restored from a snapshot at revision ${r.revision}; changes after revision ${seen} are not in history; list again`,
        { requested: this.from, oldestRevision: r.revision },
      );
    }
    // Entries re-applied after the restore up to `seen` were delivered already.
    this.from = seen;
    this.cursor = r.seq;
    this.epoch = src.epoch;
  }

  private matches(ev: WatchEvent): boolean {
    const m = ev.object.metadata;
    if (this.kind !== undefined && ev.object.kind !== this.kind) return false;
    if (this.namespace !== undefined && (m.namespace ?? '') !== this.namespace) return false;
    return this.filter === undefined || this.filter(ev);
  }
}
