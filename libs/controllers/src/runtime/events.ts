// events.ts: Events saying what the controllers and the scheduler did (`tug get events`,
// `tug describe`). Best effort: a failed write is logged, never retried, and never holds up a
// reconcile. The same reason and message for the same object within a window updates one
// Event (count, lastTimestamp) instead of making another, as in Kubernetes.
import { randomBytes } from 'node:crypto';
import type { Event, ObjectReference } from '@tugboat/api';
import type { ObjectLike, TugClient } from '@tugboat/client';
import type { Logger } from 'pino';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** record tells of something done to (or found about) obj. */
  record(obj: ObjectLike, type: EventType, reason: string, message: string): void;
}

/** How long a repeat updates the last Event rather than making a new one, ms. */
const AGGREGATE_MS = 10 * 60_000;
/** Aggregation entries kept (oldest dropped first). */
const MAX_TRACKED = 4096;

interface Tracked {
  name: string;
  namespace: string;
  count: number;
  first: string;
  at: number;
}

/** involvedRef is the ObjectReference of obj. */
export function involvedRef(obj: ObjectLike): ObjectReference {
  const m = obj.metadata;
  const ref: ObjectReference = { kind: obj.kind, name: m.name ?? '' };
  if (obj.apiVersion !== undefined) ref.apiVersion = obj.apiVersion;
  if (m.namespace !== undefined && m.namespace !== '') ref.namespace = m.namespace;
  if (m.uid !== undefined) ref.uid = m.uid;
  if (m.resourceVersion !== undefined) ref.resourceVersion = m.resourceVersion;
  return ref;
}

/** ApiEventRecorder writes Events through the API as `component`. */
export class ApiEventRecorder implements EventRecorder {
  readonly #client: TugClient;
  readonly #component: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #tracked = new Map<string, Tracked>();

  constructor(opts: { client: TugClient; component: string; log: Logger; now?: () => number }) {
    this.#client = opts.client;
    this.#component = opts.component;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  record(obj: ObjectLike, type: EventType, reason: string, message: string): void {
    const ref = involvedRef(obj);
    const namespace = ref.namespace ?? 'default';
    const key = `${ref.kind}/${namespace}/${ref.name}/${ref.uid ?? ''}/${reason}/${message}`;
    const now = this.#now();
    const stamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    const prev = this.#tracked.get(key);
    this.#log.info({ object: `${ref.kind} ${namespace}/${ref.name}`, type, reason }, message);
    if (prev !== undefined && now - prev.at < AGGREGATE_MS) {
      prev.count++;
      prev.at = now;
      const ev = this.#event(ref, namespace, prev.name, type, reason, message, prev.first, stamp, prev.count);
      this.#client.events.update(ev).catch((err: unknown) => this.#failed(err, ref, reason));
      return;
    }
    const name = `${ref.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
    this.#tracked.delete(key);
    this.#tracked.set(key, { name, namespace, count: 1, first: stamp, at: now });
    if (this.#tracked.size > MAX_TRACKED) this.#tracked.delete(this.#tracked.keys().next().value as string);
    this.#client.events.create(this.#event(ref, namespace, name, type, reason, message, stamp, stamp, 1)).catch((err: unknown) => this.#failed(err, ref, reason));
  }

  #event(ref: ObjectReference, namespace: string, name: string, type: EventType, reason: string, message: string, first: string, last: string, count: number): Event {
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: ref,
      reason,
      message,
      source: { component: this.#component },
      firstTimestamp: first,
      lastTimestamp: last,
      count,
      type,
    };
  }

  #failed(err: unknown, ref: ObjectReference, reason: string): void {
    this.#log.debug({ err: (err as Error).message, object: `${ref.kind} ${ref.namespace ?? ''}/${ref.name}`, reason }, 'event not written');
  }
}
