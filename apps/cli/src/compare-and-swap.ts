// compare-and-swap.ts: the retry loop of tug's read-change-write commands. A write carries the
// resourceVersion it read, so a write that lost a race to another writer fails instead of
// undoing that writer's change; tug then reads again and decides again on what it finds.
import { isConflict } from '@tugboat/client';

/**
 * retryOnConflict runs `attempt` (read, decide, write) until it resolves, at most `attempts`
 * times in all; an attempt that throws an error `lostRace` accepts (default: a resourceVersion
 * conflict) is run again, and the last attempt's error is thrown as it is. Any other error
 * ends it at once.
 */
export async function retryOnConflict<T>(attempts: number, attempt: () => Promise<T>, lostRace: (err: unknown) => boolean = isConflict): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!lostRace(err) || n >= attempts) throw err;
    }
  }
}
