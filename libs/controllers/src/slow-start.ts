// slow-start.ts: many similar writes issued in growing batches (1, 2, 4, ...), all of one batch
// at once, stopping after the first batch with a failure: when every write fails (a quota, a
// bad template) only one is tried instead of hundreds, yet a healthy burst goes out quickly.

/** slowStartBatches returns the batch sizes for `count` writes: 1, 2, 4, ... and the rest. */
export function slowStartBatches(count: number, initial = 1): number[] {
  const out: number[] = [];
  let remaining = count;
  for (let size = Math.min(remaining, initial); size > 0; size = Math.min(2 * size, remaining)) {
    out.push(size);
    remaining -= size;
  }
  return out;
}

/** SlowStartResult: how many calls succeeded, and the first error when a batch failed. */
export interface SlowStartResult {
  readonly succeeded: number;
  readonly error?: unknown;
}

/**
 * slowStart calls `fn` `count` times in slow-start batches (see slowStartBatches). A batch
 * with a failure ends the run once all of its calls have settled: the calls of later batches
 * are never made.
 */
export async function slowStart(count: number, fn: () => Promise<void>): Promise<SlowStartResult> {
  let succeeded = 0;
  for (const size of slowStartBatches(count)) {
    const results = await Promise.allSettled(Array.from({ length: size }, () => fn()));
    let error: { reason: unknown } | undefined;
    for (const r of results) {
      if (r.status === 'fulfilled') succeeded++;
      else error ??= { reason: r.reason };
    }
    if (error !== undefined) return { succeeded, error: error.reason };
  }
  return { succeeded };
}
