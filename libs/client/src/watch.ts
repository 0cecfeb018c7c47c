// watch.ts: a watch that survives broken streams and member failures.
//
// The watch remembers the last revision it delivered and how many events of that revision it
// delivered (one transaction can make several events with one revision). When the stream breaks
// (any endpoint may fail: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, INTERNAL, UNKNOWN, or the
// server ending the stream), it reconnects, at the next endpoint after a jittered pause, asking
// for the changes after revision - 1 and skipping the events of that revision it already
// delivered, so nothing is missed or repeated. When the server answers OUT_OF_RANGE (the
// revision left its history), the watch lists again, yields a RESYNC event with the complete
// current set, and goes on from the list's revision. It ends when its signal aborts or its
// consumer stops iterating. A watch from revision 0 ("from now") that breaks before it has seen
// any revision resumes with a list and a RESYNC. It throws only for an error about the request itself (an invalid
// selector, say: an ApiError) or a malformed answer.
import { setTimeout as sleep } from 'node:timers/promises';
import { Status, isGrpcError } from '@tugboat/proto';
import { decodeObject, parseRevision, revisionNumber, selectorText } from './codec.ts';
import type { EndpointPool } from './endpoints.ts';
import { fromGrpcError, isUnavailable } from './errors.ts';
import type { ObjectList, WatchEvent, WatchOptions } from './types.ts';

/** Codes after which a broken watch stream is reopened. */
const transientWatchCodes: ReadonlySet<number> = new Set([
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.CANCELLED,
  Status.INTERNAL,
  Status.UNKNOWN,
]);

/** StreamEnded: the server ended a watch stream without an error; the watch reconnects. */
class StreamEnded extends Error {
  override readonly name = 'StreamEnded';
}

/** WatchDeps are what a watch needs from its client. */
export interface WatchDeps<T> {
  readonly pool: EndpointPool;
  readonly kind: string;
  /** list lists the same selection with failover and retries (for the RESYNC events). */
  readonly list: (signal: AbortSignal | undefined) => Promise<ObjectList<T>>;
}

/** resumableWatch yields the events of a watch; see the module comment. */
export async function* resumableWatch<T>(deps: WatchDeps<T>, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
  const { pool, kind } = deps;
  const { signal } = opts;
  const labelSelector = selectorText(opts.labelSelector);
  const fieldSelector = opts.fieldSelector ?? '';
  const namespace = opts.namespace ?? '';
  let revision = opts.fromRevision === undefined ? 0 : parseRevision(opts.fromRevision);
  let needList = opts.fromRevision === undefined;
  /** How many events of `revision` were delivered. */
  let deliveredAtRevision = 0;
  let failures = 0;
  /** A list was made and no event has come since: OUT_OF_RANGE now must not loop at once. */
  let listedWithoutProgress = false;

  const pause = async (err: unknown): Promise<boolean> => {
    failures++;
    const ms = pool.backoff(failures);
    opts.onRetry?.(err, ms);
    try {
      await sleep(ms, undefined, signal === undefined ? undefined : { signal });
      return true;
    } catch {
      return false; // aborted
    }
  };

  while (signal?.aborted !== true) {
    if (needList) {
      let list: ObjectList<T>;
      try {
        list = await deps.list(signal);
      } catch (err) {
        if (signal?.aborted) return;
        if (isUnavailable(err) && (await pause(err))) continue;
        if (signal?.aborted) return;
        throw err;
      }
      needList = false;
      listedWithoutProgress = true;
      revision = list.revision;
      deliveredAtRevision = 0;
      yield { type: 'RESYNC', items: list.items, revision };
      continue;
    }

    if (revision === 0 && failures > 0) {
      // A watch "from now" broke before it learnt any revision: only a list can resume it.
      needList = true;
      continue;
    }
    const ep = pool.current();
    // Resume inside `revision` when some of its events were delivered, skipping those.
    const from = deliveredAtRevision > 0 ? revision - 1 : revision;
    let skip = deliveredAtRevision;
    try {
      const stream = ep.objects.watch(
        { kind, namespace, labelSelector, fieldSelector, fromRevision: BigInt(from), progressNotify: opts.progressNotify === true },
        signal === undefined ? {} : { signal },
      );
      for await (const msg of stream) {
        listedWithoutProgress = false;
        if (failures > 0) {
          failures = 0;
          pool.markGood(ep);
        }
        const rev = revisionNumber(msg.revision);
        if (msg.type === 'BOOKMARK') {
          if (rev >= revision) {
            revision = rev;
            deliveredAtRevision = 0;
            skip = 0;
            if (opts.progressNotify === true) yield { type: 'BOOKMARK', revision };
          }
          continue;
        }
        if (msg.type !== 'ADDED' && msg.type !== 'MODIFIED' && msg.type !== 'DELETED') continue;
        if (rev < revision) continue;
        if (rev === revision) {
          if (skip > 0) {
            skip--;
            continue;
          }
          deliveredAtRevision++;
        } else {
          revision = rev;
          deliveredAtRevision = 1;
          skip = 0;
        }
        const object = decodeObject<T>(msg.object);
        if (object === undefined) throw new TypeError(`watch ${kind}: ${msg.type} event at revision ${rev} without an object`);
        yield { type: msg.type, object, revision: rev };
      }
      if (signal?.aborted) return;
      throw new StreamEnded(`watch stream from ${ep.address} ended`);
    } catch (err) {
      if (signal?.aborted) return;
      if (isGrpcError(err, Status.OUT_OF_RANGE)) {
        needList = true;
        if (!listedWithoutProgress) {
          opts.onRetry?.(fromGrpcError(err, ep.address), 0);
          continue;
        }
        // Expired again straight after a list: the member lags or compacts fast; pause first.
        if (await pause(fromGrpcError(err, ep.address))) continue;
        return;
      }
      if (err instanceof StreamEnded || (isGrpcError(err) && transientWatchCodes.has(err.code))) {
        pool.markFailed(ep);
        if (await pause(isGrpcError(err) ? fromGrpcError(err, ep.address) : err)) continue;
        return;
      }
      throw fromGrpcError(err, ep.address);
    }
  }
}
