/** The time budget of an API call that waits on Raft or on another member. */
import type { CallContext } from '@tugboat/proto';

/** remainingMsMax caps the time a call waits, whatever its deadline. */
const remainingMsMax = 60_000;

/** remainingMs is how long a call may still take: until its deadline (at most 60 s), else `defMs`. */
export function remainingMs(ctx: Pick<CallContext, 'deadline'>, defMs: number): number {
  const d = ctx.deadline;
  const at = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(at)) return defMs;
  return Math.max(1, Math.min(remainingMsMax, at - Date.now()));
}
