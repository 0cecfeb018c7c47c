// linearizability.test.ts: the checker (libs/testing) against the real object service. Clients
// write ConfigMaps with compare-and-swap through a leader and read them through a follower that
// catches up with the leader's state now and then, as a follower does. With the follower's read
// index as it should be (catch up before answering), every history is linearizable; with the
// bug injected on purpose (the follower answers from whatever state it has: a stale read), the
// checker finds it and prints a minimal counterexample.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectService } from '@tugboat/apiserver';
import { TestApi } from '@tugboat/apiserver/testing';
import { ObjectService, Status, inProcessClient, isGrpcError } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';
import { HistoryRecorder, Rng, checkHistory } from '@tugboat/testing';
import type { StoreOutput } from '@tugboat/testing';

/** Follower serves reads from a copy of the leader's state, brought up to date every few ms. */
class Follower extends TestApi {
  readonly #leader: TestApi;
  readonly #staleReads: boolean;
  constructor(leader: TestApi, staleReads: boolean) {
    super({ empty: true });
    this.#leader = leader;
    this.#staleReads = staleReads;
  }
  catchUp(): void {
    this.store.restore(this.#leader.store.snapshot());
  }
  override async readIndex(): Promise<void> {
    // The read index: the follower applies what the leader has committed before it answers.
    // The injected bug skips it.
    if (!this.#staleReads) this.catchUp();
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEYS = ['a', 'b', 'c'];

/** runWorkload: four clients, 40 operations each, on three ConfigMaps; returns the check. */
async function runWorkload(seed: number, staleReads: boolean): Promise<ReturnType<typeof checkHistory>> {
  const leader = new TestApi();
  const follower = new Follower(leader, staleReads);
  follower.catchUp();
  const writes: ServiceClient<typeof ObjectService> = inProcessClient(ObjectService, objectService(leader));
  const reads: ServiceClient<typeof ObjectService> = inProcessClient(ObjectService, objectService(follower));
  const replication = setInterval(() => follower.catchUp(), 3);
  const rng = new Rng(seed);
  const recorder = new HistoryRecorder();
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, rng.int(3)));
  const outcome = (err: unknown): StoreOutput => {
    if (isGrpcError(err, Status.ABORTED)) return { result: 'conflict' };
    if (isGrpcError(err, Status.NOT_FOUND)) return { result: 'notFound' };
    if (isGrpcError(err, Status.ALREADY_EXISTS)) return { result: 'alreadyExists' };
    throw err;
  };
  const client = async (name: string): Promise<void> => {
    // What this client last saw of each key: the value and its resourceVersion (for CAS).
    const seen = new Map<string, { value: string; rv: string }>();
    for (let n = 0; n < 40; n++) {
      const key = KEYS[rng.int(KEYS.length)]!;
      const value = `${name}-${n}`;
      await pause();
      const last = seen.get(key);
      if (rng.int(2) === 0) {
        const done = recorder.invoke(name, { op: 'get', key });
        try {
          const res = await reads.get({ ref: { kind: 'ConfigMap', namespace: 'default', name: key } });
          const o = JSON.parse(decoder.decode(res.object)) as { data: { v: string }; metadata: { resourceVersion: string } };
          seen.set(key, { value: o.data.v, rv: o.metadata.resourceVersion });
          done.ok({ result: 'value', value: o.data.v });
        } catch (err) {
          if (!isGrpcError(err, Status.NOT_FOUND)) throw err;
          done.ok({ result: 'value', value: null });
        }
      } else if (last === undefined) {
        const done = recorder.invoke(name, { op: 'create', key, value });
        const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: key, namespace: 'default' }, data: { v: value } };
        try {
          const res = await writes.create({ object: encoder.encode(JSON.stringify(body)), requestId: `${name}-${n}` });
          seen.set(key, { value, rv: (JSON.parse(decoder.decode(res.object)) as { metadata: { resourceVersion: string } }).metadata.resourceVersion });
          done.ok({ result: 'ok' });
        } catch (err) {
          done.ok(outcome(err));
        }
      } else {
        const done = recorder.invoke(name, { op: 'update', key, value, expect: last.value });
        const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: key, namespace: 'default', resourceVersion: last.rv }, data: { v: value } };
        try {
          const res = await writes.update({ object: encoder.encode(JSON.stringify(body)), requestId: `${name}-${n}` });
          seen.set(key, { value, rv: (JSON.parse(decoder.decode(res.object)) as { metadata: { resourceVersion: string } }).metadata.resourceVersion });
          done.ok({ result: 'ok' });
        } catch (err) {
          done.ok(outcome(err));
        }
      }
    }
  };
  try {
    await Promise.all(['c1', 'c2', 'c3', 'c4'].map(client));
  } finally {
    clearInterval(replication);
  }
  return checkHistory(recorder.history());
}

describe('the linearizability checker against the object service', () => {
  it('finds every history linearizable when the follower catches up before it answers a read', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await runWorkload(seed, false);
      assert.equal(r.ok, true, `seed ${seed}: ${r.ok === false ? r.message : JSON.stringify(r)}`);
    }
  });

  it('catches stale reads served by a follower that skips its read index, with a counterexample', async () => {
    const found: string[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = await runWorkload(seed, true);
      if (r.ok === false) found.push(r.message);
    }
    assert.ok(found.length > 0, 'the injected stale reads were caught in at least one of five seeds');
    process.stdout.write(`# caught in ${found.length} of 5 seeds; the first:\n# ${(found[0] ?? '').split('\n').join('\n# ')}\n`);
    assert.match(found[0] ?? '', /not linearizable; a minimal counterexample:\n.* -> /);
  });
});
