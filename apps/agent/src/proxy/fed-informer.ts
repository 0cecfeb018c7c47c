/**
 * fedInformer: an Informer whose watch is fed by hand, for tests and benchmarks that drive the
 * service proxy without an API server (proxier.test.ts, test/bench/svc.ts). `send` queues a
 * watch event; the informer applies events in order, as it would those of a real watch: the
 * first RESYNC fills its cache and marks it synced. The watch ends when the informer stops.
 */
import { Informer } from '@tugboat/client';
import type { ObjectLike, WatchEvent } from '@tugboat/client';

/** FedInformer is an informer and the function that feeds its watch. */
export interface FedInformer<T extends ObjectLike> {
  readonly informer: Informer<T>;
  /** send queues one watch event for the informer. */
  readonly send: (ev: WatchEvent<T>) => void;
}

/** fedInformer makes an informer whose watch yields what `send` is given; start it as usual. */
export function fedInformer<T extends ObjectLike>(): FedInformer<T> {
  const queue: WatchEvent<T>[] = [];
  let wake: (() => void) | undefined;
  const informer = new Informer<T>(async function* (opts) {
    const signal = opts.signal;
    while (signal?.aborted !== true) {
      const ev = queue.shift();
      if (ev !== undefined) {
        yield ev;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  });
  return {
    informer,
    send: (ev) => {
      queue.push(ev);
      wake?.();
    },
  };
}
