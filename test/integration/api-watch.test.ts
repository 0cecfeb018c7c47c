// api-watch.test.ts: a watch held across a leader kill misses and repeats no event.
//
// Three tug-control members. A client watch (which resumes at another member when its stream
// breaks) is opened first on the leader; a reference watch from the same revision runs on a
// member that stays up. Writers create, update and delete ConfigMaps (transactions included,
// so several events share one revision) while the leader is SIGKILLed and later restarted.
// Both watches must deliver exactly the same events (type, name, revision, in order), in
// non-decreasing revision order, and replaying them on the listed start state must give the
// final state. The whole object set hashes the same on every member at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from '@tugboat/api';
import { isConflict, isNotFound } from '@tugboat/client';
import type { TugClient, WatchEvent } from '@tugboat/client';
import { TugCluster } from '../support/tug-cluster.ts';
import { configMap, createOnce, waitUntil } from './api-helpers.ts';

interface Seen {
  readonly type: string;
  readonly name: string;
  readonly revision: number;
}

interface WatchState {
  revision: number;
  resumed: number;
  error?: unknown;
}

function collect(client: TugClient, fromRevision: number, signal: AbortSignal, out: Seen[], state: WatchState): Promise<void> {
  return (async () => {
    try {
      const onRetry = (): void => void state.resumed++;
      for await (const ev of client.configMaps.watch({ namespace: 'default', fromRevision, progressNotify: true, signal, onRetry })) {
        if (ev.type === 'RESYNC') throw new Error(`watch had to relist at revision ${ev.revision}: events were lost`);
        if (ev.type !== 'BOOKMARK') out.push({ type: ev.type, name: (ev as Extract<WatchEvent<ConfigMap>, { object: unknown }>).object.metadata.name ?? '', revision: ev.revision });
        state.revision = Math.max(state.revision, ev.revision);
      }
    } catch (err) {
      state.error = err;
    }
  })();
}

test('a watch held across a leader kill misses and repeats no event', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const leader = await cluster.leader();
  const survivor = cluster.members.find((m) => m.name !== leader.name)!.name;
  const client = cluster.client({ retryBudgetMs: 20_000 });
  for (let i = 0; i < 10; i++) await client.create(configMap(`seed-${i}`, { v: '0' }));
  const start = await client.configMaps.list({ namespace: 'default' });

  // The watch under test talks to the leader first; the reference watch to a survivor only.
  const watchClient = cluster.client({ endpoints: [leader.apiAddress, ...cluster.endpoints().filter((e) => e !== leader.apiAddress)] });
  const ac = new AbortController();
  t.after(() => ac.abort());
  const seen: Seen[] = [];
  const reference: Seen[] = [];
  const seenState: WatchState = { revision: start.revision, resumed: 0 };
  const refState: WatchState = { revision: start.revision, resumed: 0 };
  const watching = collect(watchClient, start.revision, ac.signal, seen, seenState);
  const referencing = collect(cluster.clientOf(survivor, { retryBudgetMs: 60_000 }), start.revision, ac.signal, reference, refState);

  let writing = true;
  let ops = 0;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; writing; i++) {
      const name = `w${w}-${i % 5}`;
      try {
        switch (i % 3) {
          case 0:
            await createOnce(client, configMap(name, { i: String(i) }), `c-${w}-${i}`);
            break;
          case 1: {
            const cur = await client.configMaps.get('default', name);
            await client.configMaps.update({ ...cur, data: { i: String(i) } });
            break;
          }
          default: {
            const seed: ConfigMap = { ...(await client.configMaps.get('default', `seed-${w}`)), data: { v: String(i) } };
            await client.txn([
              { op: 'delete', ref: { kind: 'ConfigMap', namespace: 'default', name } },
              { op: 'update', object: seed },
            ]);
          }
        }
        ops++;
      } catch (err) {
        // A create after a lost answer, or an update racing with a txn: the state says what happened.
        if (!isConflict(err) && !isNotFound(err) && !(err as Error).message.includes('already exists')) throw err;
      }
    }
  });

  await waitUntil('writes before the kill', () => ops >= 100);
  await cluster.kill(leader.name);
  await waitUntil('writes after the kill', () => ops >= 250, 30_000);
  await cluster.restart(leader.name);
  await waitUntil('writes after the restart', () => ops >= 350, 30_000);
  writing = false;
  await Promise.all(writers);

  const end = await client.configMaps.list({ namespace: 'default' });
  await waitUntil('both watches reach the final revision', () => seenState.revision >= end.revision && refState.revision >= end.revision, 20_000);
  ac.abort();
  await Promise.all([watching, referencing]);
  assert.equal(seenState.error, undefined, `the watch failed: ${String(seenState.error)}`);
  assert.equal(refState.error, undefined, `the reference watch failed: ${String(refState.error)}`);

  assert.ok(seenState.resumed > 0, 'the watch under test was broken by the kill and resumed');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.revision >= seen[i - 1]!.revision, `events out of order at ${i}`);
  assert.deepEqual(seen, reference, 'the watch that crossed the leader kill delivered exactly what an undisturbed watch did');

  // Replaying the events on the start state gives the end state.
  const names = new Set(start.items.map((o) => o.metadata.name));
  for (const e of seen) {
    if (e.type === 'ADDED') {
      assert.ok(!names.has(e.name), `ADDED ${e.name} at ${e.revision}, which existed`);
      names.add(e.name);
    } else if (e.type === 'DELETED') {
      assert.ok(names.delete(e.name), `DELETED ${e.name} at ${e.revision}, which did not exist`);
    } else {
      assert.ok(names.has(e.name), `MODIFIED ${e.name} at ${e.revision}, which did not exist`);
    }
  }
  assert.deepEqual([...names].sort(), end.items.map((o) => o.metadata.name ?? '').sort());
  assert.ok(seen.length >= ops, `${seen.length} events for ${ops} writes`);
  t.diagnostic(`${seen.length} events over ${ops} writes, identical on both watches; the watch resumed ${seenState.resumed} time(s)`);
  await cluster.sameObjects();
});
