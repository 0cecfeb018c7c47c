// traffic.ts: the load a chaos run keeps on the cluster and records. A service client asks the
// web Service's VIP over HTTP from inside one node's network namespace (the node changes with
// the round, to one the fault spares), one request after another; API clients read, list,
// create and compare-and-swap ConfigMaps, every operation recorded for the linearizability
// check with its outcome: ok, refused (that answer tells the state too), failed for certain,
// or unknown (it may or may not have taken effect).
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap } from '@tugboat/api';
import type { TugClient } from '@tugboat/client';
import { fetchPage } from '@tugboat/localcluster';
import type { HistoryRecorder, StoreInput, StoreOutput } from '@tugboat/testing';
import type { Rng } from '@tugboat/testing';
import type { Request } from './checks.ts';
import type { WriteSample } from './record.ts';

/** Stoppable is a loop running until stop() resolves. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * startServiceClient asks http://VIP/ again and again, each request up to three tries (as an
 * HTTP client with two retries would), from the network namespace `netns()` names at the time
 * of the request. `record` gets each request with its time since `t0`.
 */
export function startServiceClient(vip: string, netns: () => string, t0: number, record: (r: Request) => void, intervalMs = 100): Stoppable {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const atMs = performance.now() - t0;
      let answered = false;
      for (let attempt = 0; attempt < 3 && !answered; attempt++) {
        try {
          answered = (await fetchPage(netns(), `http://${vip}/`)) !== '';
        } catch {
          // counted below
        }
      }
      record({ atMs, answered });
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

type Outcome = { output: StoreOutput } | 'fail' | 'unknown';

/** errorName is a client error's class name (ConflictError, NotFoundError, ...). */
const errorName = (err: unknown): string => (err instanceof Error ? err.name : '');

/**
 * KeySet names the ConfigMaps the clients share: `count` of them, a fresh set every
 * KEY_EPOCH_MS. The linearizability search costs more than linearly in the operations on one
 * object, so each object's history is kept to about a minute of operations however long the run.
 */
export class KeySet {
  static readonly KEY_EPOCH_MS = 60_000;
  readonly #used = new Set<string>();
  readonly #count: number;
  readonly #t0: number;

  constructor(count: number, t0: number) {
    this.#count = count;
    this.#t0 = t0;
  }

  /** now is the keys in use at this moment. */
  now(): string[] {
    const epoch = Math.floor((performance.now() - this.#t0) / KeySet.KEY_EPOCH_MS);
    const keys = Array.from({ length: this.#count }, (_, i) => `key-${epoch}-${i}`);
    for (const k of keys) this.#used.add(k);
    return keys;
  }

  /** used is every key handed out so far. */
  used(): string[] {
    return [...this.#used];
  }
}

/**
 * startApiClients runs `writers` clients over the ConfigMaps of `keys` in `namespace`: each
 * loops on a get, a list, or a read-then-compare-and-swap update (a create when the read found
 * nothing), with unique values so that a CAS on resourceVersion is a CAS on the value.
 */
export function startApiClients(
  client: TugClient,
  namespace: string,
  keySet: KeySet,
  writers: number,
  history: HistoryRecorder,
  rng: Rng,
  t0: number,
  onWrite: (w: WriteSample) => void,
): Stoppable {
  let stopped = false;
  let unique = 0;
  const timeoutMs = 5_000;
  const op = async (who: string, input: StoreInput, call: () => Promise<Outcome>): Promise<StoreOutput | undefined> => {
    const h = history.invoke(who, input);
    const started = performance.now();
    const outcome = await call().catch((): Outcome => 'unknown');
    const isWrite = input.op !== 'get' && input.op !== 'list';
    if (outcome === 'fail') h.fail();
    else if (outcome === 'unknown') h.unknown();
    else h.ok(outcome.output);
    if (isWrite) {
      const result = typeof outcome === 'object' ? outcome.output.result : outcome;
      onWrite({ atMs: started - t0, latencyMs: performance.now() - started, outcome: result === 'ok' ? 'ok' : result === 'conflict' ? 'conflict' : result === 'unknown' ? 'unknown' : 'fail' });
    }
    return typeof outcome === 'object' ? outcome.output : undefined;
  };
  // A read that fails has no effect: left out of the history. A write that fails with no
  // answer may have been applied.
  const read = async (fn: () => Promise<StoreOutput>): Promise<Outcome> => {
    try {
      return { output: await fn() };
    } catch (err) {
      return errorName(err) === 'NotFoundError' ? { output: { result: 'value', value: null } } : 'fail';
    }
  };
  const write = async (fn: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await fn();
      return { output: { result: 'ok' } };
    } catch (err) {
      const n = errorName(err);
      if (n === 'ConflictError') return { output: { result: 'conflict' } };
      if (n === 'AlreadyExistsError') return { output: { result: 'alreadyExists' } };
      if (n === 'NotFoundError') return { output: { result: 'notFound' } };
      if (n === 'InvalidError') return 'fail';
      return 'unknown';
    }
  };
  const one = async (who: string): Promise<void> => {
    const keys = keySet.now();
    const key = keys[Math.floor(rng.float() * keys.length)]!;
    const r = rng.float();
    if (r < 0.15) {
      await op(who, { op: 'list', keys }, () =>
        read(async () => {
          const items = (await client.configMaps.list({ namespace, timeoutMs })).items;
          const values: Record<string, string> = {};
          for (const cm of items) if (keys.includes(cm.metadata.name ?? '') && cm.data?.['v'] !== undefined) values[cm.metadata.name!] = cm.data['v'];
          return { result: 'values', values };
        }),
      );
      return;
    }
    let seen: ConfigMap | undefined;
    const got = await op(who, { op: 'get', key }, () =>
      read(async () => {
        seen = await client.configMaps.get(namespace, key, { timeoutMs });
        return { result: 'value', value: seen.data?.['v'] ?? null };
      }),
    );
    if (r < 0.4 || got === undefined || got.result !== 'value') return;
    const value = `${who}-${unique++}`;
    if (got.value === null) {
      await op(who, { op: 'create', key, value }, () => write(() => client.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: key, namespace }, data: { v: value } }, { timeoutMs })));
      return;
    }
    const cas = seen!;
    await op(who, { op: 'update', key, value, expect: got.value }, () => write(() => client.configMaps.update({ ...cas, data: { v: value } }, { timeoutMs })));
  };
  const loops = Array.from({ length: writers }, async (_, i) => {
    while (!stopped) {
      await one(`client-${i + 1}`);
      await sleep(25);
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** finalReads reads every key once more after the run, recorded: a lost write would show here. */
export async function finalReads(client: TugClient, namespace: string, keys: readonly string[], history: HistoryRecorder): Promise<void> {
  for (const key of keys) {
    const h = history.invoke('final-read', { op: 'get', key });
    try {
      const cm = await client.configMaps.get(namespace, key, { timeoutMs: 15_000 });
      h.ok({ result: 'value', value: cm.data?.['v'] ?? null });
    } catch (err) {
      if (errorName(err) === 'NotFoundError') h.ok({ result: 'value', value: null });
      else throw new Error(`reading ConfigMap ${namespace}/${key} after the run: ${(err as Error).message}`, { cause: err });
    }
  }
}
