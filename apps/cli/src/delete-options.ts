// delete-options.ts: the flags of `tug delete` that shape the delete (--grace-period, --force,
// --cascade) and its --wait: waiting until an object is really gone (a pod being terminated
// stays, marked, until its node's agent has stopped it).
import { isNotFound } from '@tugboat/client';
import type { DeleteOptions, ObjectRef, TugClient } from '@tugboat/client';
import { parseDuration } from './config.ts';
import { CliError, UsageError } from './errors.ts';

/** DeleteFlags are the flags as commander gives them. */
export interface DeleteFlags {
  gracePeriod?: string;
  force?: boolean;
  cascade?: string;
  wait?: boolean;
  timeout?: string;
}

/** DeletePlan is what the flags ask for. */
export interface DeletePlan {
  readonly options: Pick<DeleteOptions, 'gracePeriodSeconds' | 'propagationPolicy'>;
  /** warning is printed on stderr before deleting (for --force). */
  readonly warning: string | undefined;
  /** wait: wait until each object is gone, within timeoutMs (undefined: no limit); undefined: do not wait. */
  readonly wait: { readonly timeoutMs: number | undefined } | undefined;
}

const FORCE_WARNING =
  'warning: --force removes the pod from the API at once, without waiting for its node to confirm that its containers stopped; they may run on for a while.';

/** planDelete reads the delete flags; usage errors name the flag. */
export function planDelete(flags: DeleteFlags): DeletePlan {
  let grace: number | undefined;
  const text = flags.gracePeriod ?? '-1';
  if (!/^-?\d+$/.test(text.trim()) || Number(text) < -1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--grace-period: ${JSON.stringify(text)} is not a number of seconds (-1 for the pod's own)`, 'delete');
  }
  if (Number(text) >= 0) grace = Number(text);
  if (flags.force === true) {
    if (grace !== undefined && grace > 0) throw new UsageError('--force deletes with grace 0: give no --grace-period above 0 with it', 'delete');
    grace = 0;
  }
  const cascade = (flags.cascade ?? 'background').toLowerCase();
  if (cascade !== 'background' && cascade !== 'orphan') {
    throw new UsageError(`--cascade: ${JSON.stringify(flags.cascade)} is not one of background, orphan`, 'delete');
  }
  if (flags.timeout !== undefined && flags.wait !== true) throw new UsageError('--timeout bounds --wait: give --wait with it', 'delete');
  return {
    options: {
      ...(grace === undefined ? {} : { gracePeriodSeconds: grace }),
      ...(cascade === 'orphan' ? { propagationPolicy: 'Orphan' as const } : {}),
    },
    warning: flags.force === true ? FORCE_WARNING : undefined,
    wait: flags.wait === true ? { timeoutMs: parseDuration(flags.timeout ?? '0', '--timeout') } : undefined,
  };
}

const POLL_MS = 250;

/**
 * waitUntilGone polls until the object `ref` is gone: not found, or found with another uid than
 * `uid` (made again under its name). Throws a CliError naming `label` after timeoutMs.
 */
export async function waitUntilGone(
  client: TugClient,
  ref: ObjectRef,
  uid: string | undefined,
  label: string,
  timeoutMs: number | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    try {
      const o = await client.get(ref, { signal });
      if (uid !== undefined && o.metadata.uid !== uid) return;
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (Date.now() + POLL_MS > deadline) {
      throw new CliError(`timed out after ${String((timeoutMs ?? 0) / 1000)}s waiting for ${label} "${ref.name}" to be deleted`);
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }
}
