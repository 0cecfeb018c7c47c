// events.ts: how `tug get events` picks and orders Events: those about one object (--for
// KIND/NAME), oldest first by when they were last seen.
import { isUnknownKindError, resolveKind } from '@tugboat/api';
import type { Event } from '@tugboat/api';
import { UsageError } from './errors.ts';
import type { Obj } from './table.ts';

/** lastSeen is when an Event last happened: lastTimestamp, else firstTimestamp, else when it
 *  was created ("" when it has none of them). */
export function lastSeen(e: Event): string {
  return e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
}

/** sortEvents orders Events oldest first by lastSeen, then by namespace and name. */
export function sortEvents<T extends Obj>(events: readonly T[]): T[] {
  const key = (o: T) => {
    const e = o as unknown as Event;
    return [Date.parse(lastSeen(e)) || 0, e.metadata.namespace ?? '', e.metadata.name ?? ''] as const;
  };
  return [...events].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka[0] !== kb[0]) return ka[0] - kb[0];
    return ka[1] < kb[1] ? -1 : ka[1] > kb[1] ? 1 : ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0;
  });
}

/**
 * eventsAbout reads --for KIND/NAME ("deploy/web", "pod/web-1") into a filter that keeps the
 * Events whose involvedObject is that object; usage errors for another form or an unknown kind.
 */
export function eventsAbout(forArg: string, command: string): (o: Obj) => boolean {
  const slash = forArg.indexOf('/');
  const name = forArg.slice(slash + 1);
  if (slash <= 0 || name === '') throw new UsageError(`--for: ${JSON.stringify(forArg)} is not KIND/NAME (like deploy/web)`, command);
  let kind: string;
  try {
    kind = resolveKind(forArg.slice(0, slash)).kind;
  } catch (err) {
    if (isUnknownKindError(err)) throw new UsageError(`--for: ${err.message}`, command);
    throw err;
  }
  return (o) => {
    const io = (o as unknown as Event).involvedObject ?? {};
    return io.kind === kind && io.name === name;
  };
}
