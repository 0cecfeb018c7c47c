// control-membership.test.ts: Raft membership and restarts of command-log members (tug-control's
// Raft layer and startup, test/support/command-log-member) as real processes.
// A fourth member joins a running 3-member cluster with --join (through a follower, which
// forwards to the leader), catches up and receives new commands; it stops gracefully on SIGTERM,
// recovers from its data dir on restart, and is removed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandLogCluster } from '../support/command-log-member/cluster.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a member joins with --join, catches up, survives a graceful restart and is removed', { timeout: 90_000 }, async (t) => {
  const cluster = await CommandLogCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const client = cluster.client();
  for (let i = 0; i < 50; i++) await client.propose(`before-${i}`, bytes(`before ${i}`));

  const leader = await cluster.leader();
  const follower = cluster.members.find((m) => m.name !== leader.name)!;
  const c4 = await cluster.join('c4', { via: follower.apiAddress });
  for (let i = 0; i < 50; i++) await client.propose(`after-${i}`, bytes(`after ${i}`));

  const commit = Number((await cluster.status(leader.name)).commit);
  const st = await cluster.waitApplied('c4', commit);
  assert.deepEqual(st.members.map((m) => m.name).sort(), ['c1', 'c2', 'c3', 'c4']);
  const reference = await client.readAll({ address: cluster.member(leader.name).apiAddress });
  const joined = await client.readAll({ address: c4.apiAddress, linearizable: false });
  assert.equal(reference.length, 100);
  assert.deepEqual(joined.map((c) => `${c.position}:${c.id}@${c.index}`), reference.map((c) => `${c.position}:${c.id}@${c.index}`));

  // Graceful stop: SIGTERM ends the process with status 0; a restart recovers from disk.
  assert.equal(await cluster.terminate('c4'), 0);
  await client.propose('while-c4-down', bytes('x'));
  await cluster.restart('c4');
  const commit2 = Number((await cluster.status((await cluster.leader()).name)).commit);
  await cluster.waitApplied('c4', commit2);
  const again = await client.readAll({ address: c4.apiAddress });
  assert.equal(again.length, 101);
  assert.equal(again[100]?.id, 'while-c4-down');

  // Removal goes through any member; the cluster keeps serving with three.
  const members = await client.removeMember('c4');
  assert.deepEqual(members.map((m) => m.name).sort(), ['c1', 'c2', 'c3']);
  const a = await client.propose('after-removal', bytes('y'));
  assert.equal(a.position, 102);
});
