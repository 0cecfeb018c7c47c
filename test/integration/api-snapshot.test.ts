// api-snapshot.test.ts: three tug-control members that snapshot and compact their Raft logs
// every 100 entries. A follower is stopped (SIGKILL), 600 ConfigMaps are written meanwhile, so
// the leader's log no longer holds what the follower lacks; restarted, the follower catches up
// by an InstallSnapshot from the leader (its log says so), serves the objects, keeps up with
// writes after it, and the whole object set hashes the same on every member. Last, SIGTERM
// stops a member gracefully (exit status 0) and it restarts on its data dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TugCluster } from '../support/tug-cluster.ts';
import { configMap, createOnce, runPool } from './api-helpers.ts';

test('a member restarted after the log was compacted past it catches up by snapshot', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3, snapshotEntries: 100 });
  t.after(() => cluster.stop());
  const client = cluster.client();
  const leader = await cluster.leader();
  const follower = cluster.members.find((m) => m.name !== leader.name)!.name;

  await runPool(50, 16, (i) => createOnce(client, configMap(`before-${i}`), `before-${i}`).then(() => undefined));
  await cluster.kill(follower);
  await runPool(600, 32, (i) => createOnce(client, configMap(`during-${i}`, { i: String(i) }), `during-${i}`).then(() => undefined));

  const snapshotsBefore = (cluster.logText(follower).match(/raft: snapshot installed/g) ?? []).length;
  await cluster.restart(follower);
  await cluster.sameObjects();
  const installed = (cluster.logText(follower).match(/raft: snapshot installed/g) ?? []).length;
  assert.ok(installed > snapshotsBefore, `${follower} caught up without installing a snapshot:\n${cluster.logTail(follower, 20)}`);
  const leaderNow = (await cluster.leader()).name;
  assert.match(cluster.logText(leaderNow), /raft: sending snapshot/);

  // The restarted member serves what it got by snapshot, and follows the writes after it.
  const own = cluster.clientOf(follower);
  const listed = await own.configMaps.list({ namespace: 'default', staleOk: true });
  assert.equal(listed.items.length, 650);
  await createOnce(client, configMap('after'), 'after');
  assert.equal((await own.configMaps.get('default', 'after')).metadata.name, 'after');
  const { objects } = await cluster.sameObjects();
  assert.equal(objects, 650 + 1 + 2, 'ConfigMaps and the default and tug-node-lease Namespaces');

  // SIGTERM is a graceful shutdown (exit 0); the member comes back on its data dir.
  assert.equal(await cluster.terminate(follower), 0);
  await createOnce(client, configMap('while-stopped'), 'while-stopped');
  await cluster.restart(follower);
  await cluster.sameObjects();
});
