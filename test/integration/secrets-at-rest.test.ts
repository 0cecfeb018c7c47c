// secrets-at-rest.test.ts: three real tug-control members with --encryption-key-file, which
// snapshot every 20 entries. Secrets written through the leader and through a follower read
// back in clear on every member, while nothing any member keeps on disk (its LevelDB files:
// Raft log entries and the snapshot, read record by record, and every file's raw bytes) holds a
// Secret's value or its base64; a ConfigMap's value written alongside is found there, so the
// search would see one. No member logs a value. Restarted, the members read the Secrets again
// from what they kept.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { newEncryptionKey, writeEncryptionKeys } from '@tugboat/pki';
import { TugCluster } from '../support/tug-cluster.ts';
import { configMap, createOnce, runPool } from './api-helpers.ts';
import { sleep } from '../support/member-process.ts';

const secretValue = 'swordfish-at-rest-8d1f2c';
const followerValue = 'marlin-by-follower-77ab09';
const configValue = 'plain-config-value-5e7a31';
const needles = [secretValue, followerValue].flatMap((v) => [v, Buffer.from(v).toString('base64')]);

/** filesUnder lists every file below dir. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** records reads every key and value of a member's Raft LevelDB (closed by its member first). */
async function records(raftDir: string): Promise<Buffer[]> {
  const db = new ClassicLevel<Buffer, Buffer>(raftDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const out: Buffer[] = [];
  try {
    for await (const [k, v] of db.iterator()) out.push(k, v);
  } finally {
    await db.close();
  }
  return out;
}

describe('Secrets at rest in real members', () => {
  const keyDir = mkdtempSync(join(tmpdir(), 'tug-secret-keys-'));
  const keyFile = join(keyDir, 'keys.yaml');
  let cluster: TugCluster;
  before(async () => {
    writeEncryptionKeys(keyFile, [newEncryptionKey('key-1')]);
    cluster = await TugCluster.start({ size: 3, snapshotEntries: 20, extraArgs: ['--encryption-key-file', keyFile], dirPrefix: 'tug-secrets-at-rest-' });
  });
  after(async () => {
    await cluster?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('serves the values, keeps none of them on disk or in the logs, and reads them again after a restart', { timeout: 120_000 }, async () => {
    const client = cluster.client();
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m.name !== leader.name)!.name;
    const secret = (name: string, value: string) => ({ apiVersion: 'v1' as const, kind: 'Secret' as const, metadata: { name, namespace: 'default' }, stringData: { password: value } });
    await client.secrets.create(secret('db', secretValue));
    await cluster.clientOf(follower).secrets.create(secret('via-follower', followerValue));
    await createOnce(client, configMap('marker', { value: configValue }), 'marker');
    await runPool(40, 8, (i) => createOnce(client, configMap(`filler-${i}`), `filler-${i}`).then(() => undefined));
    await cluster.sameObjects();

    for (const m of cluster.members) {
      const own = cluster.clientOf(m.name);
      assert.deepEqual((await own.secrets.get('default', 'db')).data, { password: Buffer.from(secretValue).toString('base64') }, m.name);
      assert.deepEqual((await own.secrets.get('default', 'via-follower')).data, { password: Buffer.from(followerValue).toString('base64') }, m.name);
    }
    // Every member has taken a snapshot holding the objects (the entries of the writes above are compacted into it).
    for (const m of cluster.members) {
      const giveUp = performance.now() + 20_000;
      while (!/raft: snapshot taken, log compacted/.test(cluster.logText(m.name))) {
        assert.ok(performance.now() < giveUp, `${m.name} took no snapshot:\n${cluster.logTail(m.name, 10)}`);
        await sleep(50);
      }
    }

    for (const m of cluster.members) assert.equal(await cluster.terminate(m.name), 0);
    for (const m of cluster.members) {
      const log = cluster.logText(m.name);
      assert.match(log, /"sealWith":"key-1".*Secrets are sealed at rest/, `${m.name} says it seals`);
      assert.doesNotMatch(log, /stored in clear/);
      for (const n of needles) assert.ok(!log.includes(n), `${m.name}'s log holds a Secret value`);

      const raftDir = join(m.dataDir, 'raft');
      const kept = await records(raftDir);
      const snapshot = kept.find((b, i) => i % 2 === 0 && b.length === 1 && b[0] === 0x73);
      assert.ok(snapshot !== undefined, `${m.name} keeps a snapshot record`);
      const all = Buffer.concat(kept);
      assert.ok(all.includes(configValue), `${m.name}: the search finds a ConfigMap's value in the records`);
      assert.ok(all.includes('tug:aesgcm:v1:key-1:'), `${m.name}: the Secrets are kept sealed`);
      for (const n of needles) assert.ok(!all.includes(n), `${m.name}: a LevelDB record holds ${n}`);
      for (const f of filesUnder(m.dataDir)) {
        const raw = readFileSync(f);
        for (const n of needles) assert.ok(!raw.includes(n), `${f} holds ${n}`);
      }
    }

    // All at once: none is ready before a majority is back.
    await Promise.all(cluster.members.map((m) => cluster.restart(m.name)));
    for (const m of cluster.members) {
      const own = cluster.clientOf(m.name);
      assert.deepEqual((await own.secrets.get('default', 'db')).data, { password: Buffer.from(secretValue).toString('base64') }, `${m.name} after restart`);
    }
  });
});
