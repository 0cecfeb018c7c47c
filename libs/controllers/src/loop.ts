// loop.ts: what the workload controllers' loops share: waiting for the term's informers
// without outliving the term, and reporting a failed sync.
import type { Kind } from '@tugboat/api';
import { isConflict } from '@tugboat/client';
import type { ControllerContext } from './runtime/index.ts';

/**
 * waitForSyncOrAbort resolves true once the informers of these kinds have their first list,
 * false when ctx.signal aborts first (the controller should then return).
 */
export async function waitForSyncOrAbort(ctx: ControllerContext, ...kinds: Kind[]): Promise<boolean> {
  if (ctx.signal.aborted) return false;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([ctx.informers.waitForSync(...kinds).then(() => true), aborted]);
  } finally {
    if (onAbort !== undefined) ctx.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * reportSyncError logs a failed sync that will be retried: a conflict (a write lost to a
 * concurrent change, usually a cache one step behind) at debug level, anything else as a warning.
 */
export function reportSyncError(ctx: ControllerContext, key: string, err: unknown, retryInMs: number): void {
  const fields = { key, err: (err as Error).message, retryInMs };
  if (isConflict(err)) ctx.log.debug(fields, 'sync lost a write race; retrying');
  else ctx.log.warn(fields, 'sync failed; retrying');
}
