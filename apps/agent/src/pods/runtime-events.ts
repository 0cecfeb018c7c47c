// runtime-events.ts: RuntimeEventFeed keeps a subscription to the runtime's exits (containerd's
// task exit events) open and hands each to the pod manager, so an exited container or sandbox
// is acted on at once rather than at the next relist. A broken or missing stream is subscribed
// again with back-off; the manager is told when the stream is up or down, and relists every
// tick while it is down.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { RuntimeExit } from '@tugboat/cri';

/** RuntimeEventSource is the part of ContainerdEvents the feed uses. */
export interface RuntimeEventSource {
  exits(signal: AbortSignal): AsyncIterable<RuntimeExit>;
}

/** RuntimeEventSink is the part of the PodManager the feed drives. */
export interface RuntimeEventSink {
  runtimeExit(id: string): void;
  runtimeEventsLive(live: boolean): void;
}

export interface RuntimeEventFeedOptions {
  source: RuntimeEventSource;
  sink: RuntimeEventSink;
  log: Logger;
  /** retryMs: the first wait after the stream breaks, doubled up to maxRetryMs. Default 1000. */
  retryMs?: number;
  /** maxRetryMs: default 30000. */
  maxRetryMs?: number;
}

/** A subscription that lasted this long was healthy: the next break retries from retryMs. */
const HEALTHY_MS = 10_000;

export class RuntimeEventFeed {
  readonly #opts: Required<RuntimeEventFeedOptions>;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(opts: RuntimeEventFeedOptions) {
    this.#opts = { retryMs: 1000, maxRetryMs: 30_000, ...opts };
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { source, sink, log, retryMs, maxRetryMs } = this.#opts;
    const signal = this.#abort.signal;
    let waitMs = retryMs;
    let failing = false;
    while (!signal.aborted) {
      const since = Date.now();
      // The stream says nothing until the first event, so it counts as up once asked for; the
      // manager relists right after, which covers what happened before it really was.
      sink.runtimeEventsLive(true);
      let why = 'the stream ended';
      try {
        for await (const exit of source.exits(signal)) {
          if (failing) log.info('runtime events coming again');
          failing = false;
          sink.runtimeExit(exit.id);
        }
      } catch (err) {
        why = err instanceof Error ? err.message : String(err);
      }
      if (signal.aborted) return;
      sink.runtimeEventsLive(false);
      if (Date.now() - since >= HEALTHY_MS) waitMs = retryMs;
      if (!failing) log.warn({ err: why, retryMs: waitMs }, 'runtime events stopped; relisting the runtime every tick until they come again');
      failing = true;
      await sleep(waitMs, undefined, { signal }).catch(() => undefined);
      waitMs = Math.min(maxRetryMs, waitMs * 2);
    }
  }
}
