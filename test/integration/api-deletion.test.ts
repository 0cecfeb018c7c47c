// api-deletion.test.ts: Delete's options on three tug-control members (processes on
// 127.0.0.1-3), each call sent to a follower so that the leader decides on what it stores:
//  - a Pod bound to a node is marked (deletionTimestamp = now + grace, a MODIFIED event), a
//    smaller grace shortens it, a larger or equal one changes nothing, grace 0 removes it
//    (DELETED); status updates of a terminating pod keep its deletion fields;
//  - an unbound pod, or another kind, is removed at once whatever the grace;
//  - expected_uid: another uid answers ABORTED and deletes nothing;
//  - propagation "Orphan" drops the owner from its dependents' ownerReferences in the same
//    revision as the delete; a bad policy or a negative grace is INVALID_ARGUMENT.
// The pods are bound to a node that does not exist, so that no controller acts on them, and
// every owner reference names an owner that exists until the test deletes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Pod } from '@tugboat/api';
import { isApiError, isConflict, isInvalid, isNotFound } from '@tugboat/client';
import type { ObjectLike, TugClient, WatchEvent } from '@tugboat/client';
import { Status } from '@tugboat/proto';
import { TugCluster } from '../support/tug-cluster.ts';

function pod(name: string, nodeName?: string, grace?: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      containers: [{ name: 'c', image: 'busybox:1' }],
      ...(nodeName === undefined ? {} : { nodeName }),
      ...(grace === undefined ? {} : { terminationGracePeriodSeconds: grace }),
    },
  };
}

type Watched = ObjectLike & { metadata: Pod['metadata'] };

/** collect follows a watch until `signal` aborts and keeps its events; `done` resolves when it ends, with its error if any. */
function collect(client: TugClient, kind: string, fromRevision: number, signal: AbortSignal): { events: WatchEvent<Watched>[]; done: Promise<unknown> } {
  const events: WatchEvent<Watched>[] = [];
  const done = (async () => {
    for await (const ev of client.watch<Watched>(kind, { namespace: 'default', fromRevision, signal })) events.push(ev);
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  return { events, done };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('tug-control Delete: graceful pod deletion, expected uid, orphan propagation', { timeout: 90_000 }, async (t) => {
  // The pods here are bound to Nodes that do not exist: a long grace keeps the node-lifecycle
  // controller from collecting them while the API's deletion semantics are under test.
  const cluster = await TugCluster.start({ size: 3, dirPrefix: 'tug-api-deletion-', extraArgs: ['--node-monitor-grace', '3600'] });
  t.after(() => cluster.stop());
  const leader = await cluster.waitForLeader();
  const follower = cluster.members.map((m) => m.name).find((n) => n !== leader.name)!;
  const c = cluster.clientOf(follower);

  await t.test('a bound pod is marked, shortened, kept by a larger grace, and removed with grace 0', async () => {
    const created = await c.pods.create(pod('web', 'ghost-node', 60));
    const stop = new AbortController();
    const { events, done } = collect(c, 'Pod', Number(created.metadata.resourceVersion), stop.signal);
    t.after(() => stop.abort());

    const t0 = Date.now();
    const marked = await c.pods.delete('default', 'web');
    const at = Date.parse(marked?.metadata.deletionTimestamp ?? '');
    assert.ok(at >= Math.floor(t0 / 1000) * 1000 + 59_000 && at <= Date.now() + 60_000, `deletionTimestamp ${marked?.metadata.deletionTimestamp} is now + 60 s`);
    assert.match(marked?.metadata.deletionTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'whole seconds');
    assert.equal(marked?.metadata.deletionGracePeriodSeconds, 60);
    const stored = await c.pods.get('default', 'web');
    assert.equal(stored.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp);
    assert.equal(stored.metadata.uid, created.metadata.uid);

    // The agent's status writes keep the deletion fields.
    const withStatus = await c.pods.updateStatus({ ...stored, status: { phase: 'Running' } });
    assert.equal(withStatus.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp);
    assert.equal(withStatus.metadata.deletionGracePeriodSeconds, 60);
    // So does a full update that leaves them out.
    const { deletionTimestamp: _t, deletionGracePeriodSeconds: _g, ...meta } = withStatus.metadata;
    const relabeled = await c.pods.update({ ...withStatus, metadata: { ...meta, labels: { role: 'x' } } });
    assert.equal(relabeled.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp);

    const same = await c.pods.delete('default', 'web', { gracePeriodSeconds: 90 });
    assert.equal(same?.metadata.resourceVersion, relabeled.metadata.resourceVersion, 'a larger grace writes nothing');
    const shorter = await c.pods.delete('default', 'web', { gracePeriodSeconds: 15 });
    assert.equal(Date.parse(shorter?.metadata.deletionTimestamp ?? ''), at - 45_000);
    assert.equal(shorter?.metadata.deletionGracePeriodSeconds, 15);

    const gone = await c.pods.delete('default', 'web', { gracePeriodSeconds: 0, expectedUid: created.metadata.uid });
    assert.equal(gone?.metadata.name, 'web');
    assert.ok(isNotFound(await c.pods.get('default', 'web').catch((e: unknown) => e)));

    const types = await until('the DELETED event', () => {
      const ts = events.map((e) => e.type);
      return ts.includes('DELETED') ? ts : undefined;
    });
    // marked, status, labels, shortened: MODIFIED each; then DELETED.
    assert.deepEqual(types, ['MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    const first = events[0];
    assert.ok(first !== undefined && first.type === 'MODIFIED');
    assert.equal(first.object.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp);
    stop.abort();
    assert.equal(await done, undefined, 'the watch ended without an error');
  });

  await t.test('grace 0 removes a bound pod at once; unbound pods and other kinds go at once', async () => {
    await c.pods.create(pod('forced', 'ghost-node'));
    await c.pods.delete('default', 'forced', { gracePeriodSeconds: 0 });
    assert.ok(isNotFound(await c.pods.get('default', 'forced').catch((e: unknown) => e)));

    await c.pods.create(pod('pending', undefined, 30));
    const gone = await c.pods.delete('default', 'pending', { gracePeriodSeconds: 30 });
    assert.equal(gone?.metadata.deletionTimestamp, undefined);
    assert.ok(isNotFound(await c.pods.get('default', 'pending').catch((e: unknown) => e)));

    await c.pods.create(pod('zero-grace', 'ghost-node', 0));
    await c.pods.delete('default', 'zero-grace');
    assert.ok(isNotFound(await c.pods.get('default', 'zero-grace').catch((e: unknown) => e)), "the pod's own grace 0");

    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } };
    await c.configMaps.create(cm);
    await c.configMaps.delete('default', 'cfg', { gracePeriodSeconds: 30 });
    assert.ok(isNotFound(await c.configMaps.get('default', 'cfg').catch((e: unknown) => e)));
  });

  await t.test('expected_uid: a pod made again under the same name is not deleted', async () => {
    const first = await c.pods.create(pod('again', 'ghost-node'));
    await c.pods.delete('default', 'again', { gracePeriodSeconds: 0 });
    const second = await c.pods.create(pod('again', 'ghost-node'));
    const err = await c.pods.delete('default', 'again', { gracePeriodSeconds: 0, expectedUid: first.metadata.uid }).catch((e: unknown) => e);
    assert.ok(isConflict(err), String(err));
    assert.ok(isApiError(err) && err.code === Status.ABORTED);
    assert.match((err as Error).message, new RegExp(`expected uid ${first.metadata.uid}, stored ${second.metadata.uid}`));
    assert.equal((await c.pods.get('default', 'again')).metadata.uid, second.metadata.uid);
    await c.pods.delete('default', 'again', { gracePeriodSeconds: 0, expectedUid: second.metadata.uid });
  });

  await t.test('Orphan: the dependents lose the owner in the same revision; bad options are refused', async () => {
    const owner = await c.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: 'default' } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' };
    // Another owner that stays, so that the garbage collector leaves dep-b alone.
    const second = await c.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: 'default' } });
    const other = { apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: second.metadata.uid ?? '' };
    await c.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dep-a', namespace: 'default', ownerReferences: [ref] } });
    await c.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dep-b', namespace: 'default', ownerReferences: [other, ref] } });

    assert.ok(isInvalid(await c.configMaps.delete('default', 'owner', { propagationPolicy: 'Foreground' as 'Orphan' }).catch((e: unknown) => e)));
    const raw = await c.delete({ kind: 'ConfigMap', namespace: 'default', name: 'owner' }, { propagationPolicy: 'Orphan' });
    const a = await c.configMaps.get('default', 'dep-a');
    const b = await c.configMaps.get('default', 'dep-b');
    assert.equal(a.metadata.ownerReferences, undefined);
    assert.deepEqual(b.metadata.ownerReferences, [other]);
    assert.equal(a.metadata.resourceVersion, raw?.metadata.resourceVersion, 'one revision');
    assert.equal(b.metadata.resourceVersion, raw?.metadata.resourceVersion, 'one revision');
  });

  await t.test('every member holds the same objects', async () => {
    await cluster.sameObjects();
  });
});
