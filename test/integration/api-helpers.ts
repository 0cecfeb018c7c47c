// api-helpers.ts: small helpers shared by the tug-control API integration tests.
import type { ConfigMap } from '@tugboat/api';
import { isUnavailable } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';

/** configMap is a ConfigMap in namespace `default` (or `namespace`). */
export function configMap(name: string, data: Record<string, string> = {}, namespace = 'default'): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

/**
 * createOnce creates `obj` with a fixed request id, asking again with the same id when the
 * client gives up (UnavailableError) until `attempts` are spent: the server applies a request
 * id at most once, so the object is created at most once, and the answer is the first outcome.
 */
export async function createOnce(client: TugClient, obj: ConfigMap, requestId: string, attempts = 6): Promise<ConfigMap> {
  for (let i = 1; ; i++) {
    try {
      return await client.create(obj, { requestId });
    } catch (err) {
      if (!isUnavailable(err) || i >= attempts) throw err;
    }
  }
}

/** runPool runs `fn(0..count-1)` with at most `concurrency` running at once. */
export async function runPool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        await fn(i);
      }
    }),
  );
}

/** waitUntil polls `cond` every 20 ms until it holds, failing after `timeoutMs` with `what`. */
export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
