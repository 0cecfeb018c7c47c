// api-membership.test.ts: three tug-control members go to four (a new member joins with --join
// through a follower, which forwards AddMember to the leader) and back to three (one of the
// founding members is removed), while a writer keeps creating ConfigMaps through a client over
// the members. The new member serves reads and writes; `tug cluster status` lists every member
// with its API address; every acknowledged write is on every member at the end, and the whole
// object set hashes the same everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TugCluster } from '../support/tug-cluster.ts';
import { configMap, createOnce } from './api-helpers.ts';

test('membership 3 -> 4 -> 3 while writes go on', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const client = cluster.client({ retryBudgetMs: 20_000 });

  let writing = true;
  const acked = new Set<string>();
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; writing; i++) {
      const name = `w${w}-${i}`;
      await createOnce(client, configMap(name), `create-${name}`);
      acked.add(name);
    }
  });

  const leader = await cluster.leader();
  const follower = cluster.members.find((m) => m.name !== leader.name)!;
  await cluster.join('c4', { host: '127.0.0.4', via: follower.apiAddress });
  const four = await client.cluster.status();
  assert.deepEqual(four.members.map((m) => m.name).sort(), ['c1', 'c2', 'c3', 'c4']);
  for (const m of four.members) {
    assert.equal(m.apiAddress, cluster.member(m.name).apiAddress, `${m.name}'s API address is known`);
    assert.ok(m.reachable, `${m.name} is reachable: ${m.error}`);
    assert.ok(
      m.heapUsedBytes > 0 && m.heapTotalBytes >= m.heapUsedBytes && m.externalBytes > 0 && m.rssBytes > m.heapTotalBytes,
      `${m.name} reports its memory: RSS ${m.rssBytes}, heap ${m.heapUsedBytes} of ${m.heapTotalBytes}, external ${m.externalBytes}`,
    );
  }
  const status = await cluster.cli(['cluster', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /c4\s+127\.0\.0\.4:\d+\s+(follower|leader)/);

  // The new member serves linearizable reads and takes writes.
  const viaNew = cluster.clientOf('c4');
  await createOnce(viaNew, configMap('through-c4'), 'through-c4');
  assert.equal((await viaNew.configMaps.get('default', 'through-c4')).metadata.name, 'through-c4');
  const sizeAtJoin = acked.size;

  // Remove a founding member that is not the leader, through the others.
  const gone = cluster.members.find((m) => m.name !== leader.name && m.name !== 'c4' && m.name !== follower.name) ?? follower;
  await cluster.remove(gone.name);
  const three = await client.cluster.status();
  assert.deepEqual(three.members.map((m) => m.name).sort(), ['c1', 'c2', 'c3', 'c4'].filter((n) => n !== gone.name));

  const until = acked.size + 50;
  while (acked.size < until) await new Promise((r) => setTimeout(r, 20));
  writing = false;
  await Promise.all(writers);
  assert.ok(acked.size > sizeAtJoin, 'writes went on while the membership changed');

  await cluster.sameObjects();
  for (const m of cluster.members) {
    const names = new Set((await cluster.clientOf(m.name).configMaps.list({ namespace: 'default', staleOk: true })).items.map((o) => o.metadata.name));
    const missing = [...acked].filter((n) => !names.has(n));
    assert.deepEqual(missing, [], `${m.name} misses acknowledged writes`);
  }
  t.diagnostic(`${acked.size} writes acknowledged during the membership changes`);
});
