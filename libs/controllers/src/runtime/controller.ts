// controller.ts: what a leader-only loop is, and the runner that starts every loop when this
// control member becomes the Raft leader and stops them all when it no longer is.
//
// A Controller's run() reconciles until ctx.signal aborts, then returns. Every term gets fresh
// shared informers, a fresh work queue per controller and a fresh signal, so nothing a deposed
// leader had cached or queued carries over. Writes are compare-and-swap (or creates by name),
// so a deposed leader that is still finishing a write cannot undo the new leader's decisions.
import type { Logger } from 'pino';
import type { TugClient } from '@tugboat/client';
import { ApiEventRecorder } from './events.ts';
import type { EventRecorder } from './events.ts';
import { SharedInformers } from './informers.ts';

/** ControllerSettings are the tunables of the control loops (tug-control flags). */
export interface ControllerSettings {
  /** A Node whose heartbeat is older than this is NotReady, seconds. */
  readonly nodeMonitorGraceSeconds: number;
  /** tolerationSeconds given to pods that do not tolerate the not-ready/unreachable NoExecute taints themselves. */
  readonly defaultEvictionSeconds: number;
}

export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  nodeMonitorGraceSeconds: 5,
  defaultEvictionSeconds: 1,
};

export interface ControllerContext {
  /** client reaches the API of this member (writes go through Raft, as every client's). */
  readonly client: TugClient;
  /** informers are this term's shared watch caches. */
  readonly informers: SharedInformers;
  readonly events: EventRecorder;
  readonly log: Logger;
  /** signal aborts when this member stops leading or shuts down: run() must then return. */
  readonly signal: AbortSignal;
  readonly settings: ControllerSettings;
  /** now is the time in ms since the epoch (injectable for tests). */
  readonly now: () => number;
}

export interface Controller {
  readonly name: string;
  run(ctx: ControllerContext): Promise<void>;
}

export interface LeaderLoopsOptions {
  readonly controllers: readonly Controller[];
  /** isLeader tells whether this member leads now. */
  readonly isLeader: () => boolean;
  /** onLeadershipChange registers a listener called after any role or leader change; returns its remover. */
  readonly onLeadershipChange: (listener: () => void) => () => void;
  readonly client: TugClient;
  readonly log: Logger;
  readonly settings?: ControllerSettings;
  /** Pause before restarting a controller whose run() failed while still leading, ms. Default 1,000. */
  readonly restartMs?: number;
  readonly now?: () => number;
}

interface Term {
  readonly abort: AbortController;
  readonly informers: SharedInformers;
  readonly runs: Promise<void>[];
}

/** LeaderLoops runs the controllers during every term in which this member leads. */
export class LeaderLoops {
  readonly #opts: LeaderLoopsOptions;
  #term: Term | undefined;
  #ending: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #terms = 0;

  constructor(opts: LeaderLoopsOptions) {
    this.#opts = opts;
  }

  /** start follows leadership from now on. */
  start(): void {
    if (this.#unsubscribe !== undefined || this.#stopped) return;
    // The listener runs inside the Raft loop: look at the new role once it has returned.
    this.#unsubscribe = this.#opts.onLeadershipChange(() => setImmediate(() => this.#follow()));
    this.#follow();
  }

  /** leading tells whether the loops run now (for tests and status). */
  get leading(): boolean {
    return this.#term !== undefined;
  }

  /** terms is how many leadership terms the loops have run in. */
  get terms(): number {
    return this.#terms;
  }

  #follow(): void {
    if (this.#stopped) return;
    const leader = this.#opts.isLeader();
    if (leader && this.#term === undefined && this.#ending === undefined) this.#begin();
    else if (!leader && this.#term !== undefined) void this.#end();
  }

  #begin(): void {
    const abort = new AbortController();
    const log = this.#opts.log;
    const informers = new SharedInformers(this.#opts.client, log.child({ part: 'informers' }));
    const events = new ApiEventRecorder({ client: this.#opts.client, component: 'tug-control', log: log.child({ part: 'events' }) });
    const term: Term = { abort, informers, runs: [] };
    this.#term = term;
    this.#terms++;
    log.info({ controllers: this.#opts.controllers.map((c) => c.name) }, 'leading: control loops started');
    for (const c of this.#opts.controllers) {
      const ctx: ControllerContext = {
        client: this.#opts.client,
        informers,
        events,
        log: log.child({ controller: c.name }),
        signal: abort.signal,
        settings: this.#opts.settings ?? DEFAULT_CONTROLLER_SETTINGS,
        now: this.#opts.now ?? Date.now,
      };
      term.runs.push(this.#runUntilAborted(c, ctx));
    }
  }

  async #runUntilAborted(c: Controller, ctx: ControllerContext): Promise<void> {
    while (!ctx.signal.aborted) {
      try {
        await c.run(ctx);
      } catch (err) {
        if (ctx.signal.aborted) return;
        ctx.log.error({ err }, 'control loop failed; restarting it');
      }
      if (ctx.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, this.#opts.restartMs ?? 1_000).unref());
    }
  }

  async #end(): Promise<void> {
    const term = this.#term;
    if (term === undefined) return;
    this.#term = undefined;
    this.#ending = (async () => {
      term.abort.abort();
      await Promise.all(term.runs);
      await term.informers.stop();
      this.#opts.log.info('no longer leading: control loops stopped');
    })();
    await this.#ending;
    this.#ending = undefined;
    this.#follow();
  }

  /** stop ends the loops for good (member shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    await this.#ending;
    const term = this.#term;
    if (term !== undefined) {
      this.#term = undefined;
      term.abort.abort();
      await Promise.all(term.runs);
      await term.informers.stop();
    }
  }
}
