// api-leader-kill.test.ts: three tug-control members on 127.0.0.1-3. 500 ConfigMap creates go
// on, 50 in flight through a client over all members, while the leader is SIGKILLed (after 100
// acknowledgements) and restarted (after 250); the last 100 creates wait until it is back.
// Afterwards, on every member: every acknowledged create is there, with the uid and
// resourceVersion it was acknowledged with (so it was applied once, not twice); no create was
// answered AlreadyExists (a retry applied twice would be); and the whole object set hashes the
// same everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from '@tugboat/api';
import { TugCluster } from '../support/tug-cluster.ts';
import { configMap, createOnce, runPool } from './api-helpers.ts';

const total = 500;
const inFlight = 50;
const killAt = 100;
const restartAt = 250;
const heldBack = 100;

test('500 concurrent creates across a leader SIGKILL and restart: each acknowledged create is on every member, once', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const client = cluster.client({ retryBudgetMs: 20_000 });
  const leader = await cluster.leader();

  const acked = new Map<string, ConfigMap>();
  const failed = new Map<string, string>();
  let killed!: () => void;
  let restarted!: () => void;
  const killDone = new Promise<void>((r) => (killed = r));
  const restartDone = new Promise<void>((r) => (restarted = r));
  let chaos: Promise<void> = Promise.resolve();
  let killMs = 0;

  const onAck = (): void => {
    if (acked.size === killAt) {
      chaos = (async () => {
        const t0 = performance.now();
        await cluster.kill(leader.name);
        killed();
        await cluster.waitForLeader({ exclude: leader.name, minTerm: leader.term + 1 });
        killMs = performance.now() - t0;
      })();
    }
    if (acked.size === restartAt) {
      chaos = chaos.then(async () => {
        await killDone;
        await cluster.restart(leader.name);
        restarted();
      });
    }
  };

  await runPool(total, inFlight, async (i) => {
    if (i >= total - heldBack) await restartDone;
    const name = `cm-${String(i).padStart(3, '0')}`;
    try {
      const o = await createOnce(client, configMap(name, { i: String(i) }), `create-${name}`);
      acked.set(name, o);
      onAck();
    } catch (err) {
      failed.set(name, (err as Error).message);
    }
  });
  await chaos;

  assert.equal(failed.size, 0, `creates failed: ${[...failed].slice(0, 5).map(([n, m]) => `${n}: ${m}`).join('; ')}`);
  assert.equal(acked.size, total);
  t.diagnostic(`new leader ${killMs.toFixed(0)} ms after the kill`);

  const { hash } = await cluster.sameObjects();
  for (const m of cluster.members) {
    const list = await cluster.clientOf(m.name).configMaps.list({ namespace: 'default', staleOk: true });
    const byName = new Map(list.items.map((o) => [o.metadata.name, o]));
    assert.equal(byName.size, total, `${m.name} holds ${byName.size} ConfigMaps`);
    for (const [name, a] of acked) {
      const o = byName.get(name);
      assert.ok(o !== undefined, `${m.name}: acknowledged ${name} is missing`);
      assert.equal(o.metadata.uid, a.metadata.uid, `${m.name}: ${name} has another uid than acknowledged (created twice?)`);
      assert.equal(o.metadata.resourceVersion, a.metadata.resourceVersion, `${m.name}: ${name} has another resourceVersion than acknowledged`);
    }
  }
  t.diagnostic(`object set hash ${hash.slice(0, 16)} on every member`);
});
