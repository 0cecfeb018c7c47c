// api-objects.test.ts: three tug-control members as processes on 127.0.0.1-3, driven through
// the `tug` CLI and the client:
//  - every kind is applied, read and deleted with `tug`, and created, updated, read and deleted
//    with the client, through different members;
//  - the API's answers: validation naming the field, unknown and internal kinds refused, a
//    missing namespace, the protected `default` Namespace, a request over the size limit, a
//    repeated request id answering the first outcome, generateName;
//  - compare-and-swap: a stale resourceVersion answers a conflict error; concurrent
//    read-modify-write increments with retries on conflict lose no update;
//  - watches with selectors: an object that stops matching comes as DELETED, one that starts
//    matching as ADDED; BOOKMARKs when asked for and idle.
// At the end the whole object set hashes the same on every member.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseManifests, findKind } from '@tugboat/api';
import type { ConfigMap } from '@tugboat/api';
import { isConflict, isNotFound, isInvalid, isAlreadyExists, isApiError } from '@tugboat/client';
import type { ObjectLike, WatchEvent } from '@tugboat/client';
import { ObjectService, Status, clientTransport, createClient, isGrpcError } from '@tugboat/proto';
import { TugCluster } from '../support/tug-cluster.ts';

const manifestPath = fileURLToPath(new URL('./testdata/every-kind.yaml', import.meta.url));
const manifest = parseManifests(readFileSync(manifestPath, 'utf8'));

type Json = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> } };

function cm(name: string, data: Record<string, string>, labels: Record<string, string> = {}, namespace = 'default'): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data };
}

test('tug-control API: every kind through the CLI and the client, errors, CAS and filtered watches', { timeout: 120_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const [m1, m2, m3] = cluster.members.map((m) => m.name) as [string, string, string];

  await t.test('every kind: tug apply, get, delete', async () => {
    const applied = await cluster.cli(['apply', '-f', manifestPath]);
    assert.equal(applied.code, 0, applied.stderr);
    for (const o of manifest) assert.match(applied.stdout, new RegExp(`${String(o['kind']).toLowerCase()}(\\.apps|\\.coordination\\.k8s\\.io)?/\\S+ created`), applied.stdout);

    const again = await cluster.cli(['apply', '-f', manifestPath], { endpoints: [cluster.member(m3).apiAddress] });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.match(/unchanged/g)?.length, manifest.length, again.stdout);

    for (const o of manifest) {
      const meta = o['metadata'] as { name: string; namespace?: string };
      const info = findKind(String(o['kind']))!;
      const args = ['get', info.plural, meta.name, '-o', 'json', ...(info.namespaced ? ['-n', meta.namespace ?? 'default'] : [])];
      const got = await cluster.cli(args, { endpoints: [cluster.member(m2).apiAddress] });
      assert.equal(got.code, 0, `${args.join(' ')}: ${got.stderr}`);
      const live = JSON.parse(got.stdout) as Json;
      assert.equal(live.kind, o['kind']);
      assert.equal(live.metadata.name, meta.name);
      assert.match(String(live.metadata.resourceVersion), /^\d+$/);
    }
    const secret = JSON.parse((await cluster.cli(['get', 'secret', 'web-credentials', '-n', 'kinds', '-o', 'json'])).stdout) as Json;
    assert.deepEqual(secret['data'], { password: Buffer.from('s3cr3t').toString('base64') }, 'stringData is folded into data');
    const config = JSON.parse((await cluster.cli(['get', 'cm', 'web-config', '-n', 'kinds', '-o', 'json'])).stdout) as Json;
    assert.equal(config.metadata.annotations?.['example.com/owner'], 'qa', 'annotations are kept');
    const listed = await cluster.cli(['get', 'pods', '-n', 'kinds']);
    assert.match(listed.stdout, /web-0/);

    // Delete one of each namespaced kind, then the Namespace and the Node.
    for (const o of manifest) {
      const info = findKind(String(o['kind']))!;
      if (!info.namespaced) continue;
      const meta = o['metadata'] as { name: string; namespace: string };
      const del = await cluster.cli(['delete', info.plural, meta.name, '-n', meta.namespace], { endpoints: [cluster.member(m1).apiAddress] });
      assert.equal(del.code, 0, del.stderr);
      assert.match(del.stdout, /deleted/);
      const gone = await cluster.cli(['get', info.plural, meta.name, '-n', meta.namespace]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /Error from server \(NotFound\): .*not found/);
    }
    assert.equal((await cluster.cli(['delete', 'namespace', 'kinds'])).code, 0);
    assert.equal((await cluster.cli(['delete', 'node', 'node-1'])).code, 0);
  });

  await t.test('every kind: create, update, get, delete with the client through different members', async () => {
    const client = cluster.client();
    const other = cluster.clientOf(m3);
    for (const raw of manifest) {
      const o = structuredClone(raw) as unknown as Json;
      const created = await client.create(o as ObjectLike);
      assert.equal(created.metadata.name, o.metadata.name);
      const ref = { kind: o.kind, namespace: created.metadata.namespace ?? '', name: o.metadata.name };
      const live = await other.get<Json>(ref);
      // The control loops may write the object too (a Pod's scheduling status, a Deployment's
      // ReplicaSet and status): the read sees this write or a later one.
      assert.ok(Number(live.metadata.resourceVersion) >= Number(created.metadata.resourceVersion), `${o.kind}: a linearizable read at another member sees the write`);
      let updated: ObjectLike | undefined;
      for (let attempt = 0; updated === undefined; attempt++) {
        const cur = attempt === 0 ? live : await other.get<Json>(ref);
        const labels = { ...((cur.metadata as { labels?: Record<string, string> }).labels ?? {}), touched: 'yes' };
        try {
          updated = await other.update({ ...cur, metadata: { ...cur.metadata, labels } } as ObjectLike);
        } catch (err) {
          if (!isConflict(err) || attempt >= 5) throw err;
        }
      }
      assert.ok(Number(updated.metadata.resourceVersion) > Number(live.metadata.resourceVersion), `${o.kind}: update gets a new resourceVersion`);
    }
    for (const raw of [...manifest].reverse()) {
      const o = raw as unknown as Json;
      if (o.kind === 'Namespace') continue;
      await client.delete({ kind: o.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name });
      await assert.rejects(other.get({ kind: o.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name }), isNotFound);
    }
    // Deleting a Namespace deletes what is in it.
    await client.create(cm('x', {}, {}, 'kinds'));
    await client.delete({ kind: 'Namespace', name: 'kinds' });
    await assert.rejects(other.get({ kind: 'ConfigMap', namespace: 'kinds', name: 'x' }), isNotFound);
  });

  await t.test('errors: validation, kinds, namespaces, size, repeated request ids, generateName', async () => {
    const client = cluster.client();
    await assert.rejects(
      client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bad', namespace: 'default' }, data: { k: 5 } } as ObjectLike),
      (e: unknown) => isInvalid(e) && /data\.k/.test((e as Error).message),
    );
    await assert.rejects(
      client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_A_Name', namespace: 'default' } } as ObjectLike),
      (e: unknown) => isInvalid(e) && /metadata\.name/.test((e as Error).message),
    );
    await assert.rejects(client.create(cm('orphan', {}, {}, 'nope')), (e: unknown) =>
      isNotFound(e) && /namespaces "nope" not found/.test((e as Error).message),
    );
    await assert.rejects(client.delete({ kind: 'Namespace', name: 'default' }), (e: unknown) => isApiError(e) && e.code === Status.FAILED_PRECONDITION);
    await assert.rejects(client.create(cm('big', { blob: 'x'.repeat(2 * 1024 * 1024) })), (e: unknown) => isApiError(e) && e.code === Status.RESOURCE_EXHAUSTED);

    // The control plane's own kind (the member directory) is not served.
    const raw = createClient(ObjectService, cluster.member(m1).apiAddress, clientTransport(cluster.security, cluster.member(m1).apiAddress));
    try {
      for (const call of [
        () => raw.list({ kind: 'ControlPlaneMember' }),
        () => raw.get({ ref: { kind: 'ControlPlaneMember', name: m1 } }),
        () => raw.create({ object: new TextEncoder().encode(JSON.stringify({ apiVersion: 'v1', kind: 'ControlPlaneMember', metadata: { name: 'x' } })) }),
      ]) {
        await assert.rejects(call(), (e: unknown) => isGrpcError(e, Status.INVALID_ARGUMENT) && /unknown kind/.test((e as Error).message));
      }
    } finally {
      raw.close();
    }

    // A repeated request id answers the first outcome, at any member, and applies nothing again.
    const first = await client.create(cm('once', { v: '1' }), { requestId: 'req-once' });
    const retry = await cluster.clientOf(m2).create(cm('once', { v: '2' }), { requestId: 'req-once' });
    assert.equal(retry.metadata.resourceVersion, first.metadata.resourceVersion);
    assert.deepEqual((await client.configMaps.get('default', 'once')).data, { v: '1' });
    await assert.rejects(client.create(cm('once', {})), isAlreadyExists);

    const generated = await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-', namespace: 'default' } } as ObjectLike);
    assert.match(generated.metadata.name ?? '', /^gen-[a-z0-9]{5}$/);
  });

  await t.test('compare-and-swap: a stale resourceVersion is a conflict; concurrent increments lose nothing', async () => {
    const client = cluster.client();
    const v1 = await client.configMaps.create(cm('counter', { n: '0' }));
    await client.configMaps.update({ ...v1, data: { n: '0', touched: 'yes' } });
    await assert.rejects(client.configMaps.update({ ...v1, data: { n: '99' } }), (e: unknown) =>
      isConflict(e) && new RegExp(`expected resourceVersion ${v1.metadata.resourceVersion}, stored \\d+`).test((e as Error).message),
    );
    await assert.rejects(client.configMaps.delete('default', 'counter', { expectedResourceVersion: v1.metadata.resourceVersion ?? '' }), isConflict);

    const workers = 6;
    const each = 15;
    let conflicts = 0;
    const clients = cluster.members.map((m) => cluster.clientOf(m.name));
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const c = clients[w % clients.length]!;
        for (let i = 0; i < each; i++) {
          for (;;) {
            const cur = await c.configMaps.get('default', 'counter');
            try {
              await c.configMaps.update({ ...cur, data: { ...cur.data, n: String(Number(cur.data?.['n']) + 1) } });
              break;
            } catch (err) {
              if (!isConflict(err)) throw err;
              conflicts++;
            }
          }
        }
      }),
    );
    assert.equal((await client.configMaps.get('default', 'counter')).data?.['n'], String(workers * each));
    assert.ok(conflicts > 0, 'concurrent read-modify-write met conflicts');
  });

  await t.test('watch with a label selector: stops matching -> DELETED, starts matching -> ADDED; bookmarks', async () => {
    const client = cluster.client();
    const start = await client.configMaps.list({ namespace: 'default' });
    const ac = new AbortController();
    const events: WatchEvent<ObjectLike>[] = [];
    const watcher = cluster.clientOf(m2);
    const done = (async () => {
      for await (const ev of watcher.configMaps.watch({ namespace: 'default', labelSelector: 'tier=web', fromRevision: start.revision, progressNotify: true, signal: ac.signal })) {
        events.push(ev);
      }
    })();
    const a = await client.configMaps.create(cm('w-a', {}, { tier: 'web' }));
    await client.configMaps.create(cm('w-b', {}, { tier: 'db' }));
    const a2 = await client.configMaps.update({ ...a, metadata: { ...a.metadata, labels: { tier: 'db' } } });
    const b = await client.configMaps.get('default', 'w-b');
    await client.configMaps.update({ ...b, metadata: { ...b.metadata, labels: { tier: 'web' } } });
    await client.configMaps.delete('default', 'w-b');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !events.some((e) => e.type === 'BOOKMARK' && e.revision > Number(a2.metadata.resourceVersion))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    ac.abort();
    await done;
    const changes = events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${'object' in e ? e.object.metadata.name : ''}`);
    assert.deepEqual(changes, ['ADDED w-a', 'DELETED w-a', 'ADDED w-b', 'DELETED w-b']);
    const deleted = events.find((e) => e.type === 'DELETED');
    assert.equal(deleted?.revision, Number(a2.metadata.resourceVersion), 'the DELETED for w-a carries the revision of the change');
    assert.ok(events.some((e) => e.type === 'BOOKMARK'), 'progress_notify gives bookmarks when idle');
  });

  await t.test('the object set is the same on every member', async () => {
    const { objects } = await cluster.sameObjects();
    assert.ok(objects > 3);
  });
});
