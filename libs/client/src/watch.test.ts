// watch.test.ts: watches resume after broken streams and dead members without missing or
// repeating an event, relist on OUT_OF_RANGE, and the Informer keeps its cache and tells keys.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap } from '@tugboat/api';
import { TugClient, isInvalid } from '@tugboat/client';
import type { WatchEvent } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { Status } from '@tugboat/proto';

function cm(name: string, value = '1'): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { value } };
}

type Seen = [type: string, name: string, revision: number];

function summary(ev: WatchEvent<ConfigMap>): Seen | [type: string, names: string, revision: number] {
  if (ev.type === 'BOOKMARK') return ['BOOKMARK', '', ev.revision];
  if (ev.type === 'RESYNC') return ['RESYNC', ev.items.map((i) => i.metadata.name).join(','), ev.revision];
  return [ev.type, ev.object.metadata.name ?? '', ev.revision];
}

/** until waits for cond, polling. */
async function until(cond: () => boolean, what: string, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('watch', () => {
  let api: TestApi;
  let servers: TestApiServer[];
  let client: TugClient;
  let ac: AbortController;

  beforeEach(async () => {
    api = new TestApi();
    servers = [await TestApiServer.start(api), await TestApiServer.start(api)];
    client = new TugClient({ endpoints: servers.map((s) => s.address), backoffMs: 5, backoffMsMax: 50 });
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    client.close();
    for (const s of servers) await s.stop();
  });

  /** collect runs a watch in the background, pushing summaries of what it yields. */
  function collect(opts: Parameters<TugClient['configMaps']['watch']>[0] = {}): { seen: Seen[]; done: Promise<void> } {
    const seen: Seen[] = [];
    const done = (async () => {
      for await (const ev of client.configMaps.watch({ ...opts, signal: ac.signal })) seen.push(summary(ev) as Seen);
    })();
    return { seen, done };
  }

  test('begins with a RESYNC of the current objects, then delivers changes in order', async () => {
    api.seed(cm('old'));
    const w = collect({ namespace: 'default' });
    await until(() => w.seen.length === 1, 'the RESYNC');
    const r1 = (await client.configMaps.create(cm('a'))).metadata.resourceVersion;
    const a = await client.configMaps.get('default', 'a');
    const r2 = (await client.configMaps.update({ ...a, data: { value: '2' } })).metadata.resourceVersion;
    await client.configMaps.delete('default', 'old');
    await until(() => w.seen.length === 4, 'four events');
    assert.deepEqual(w.seen, [
      ['RESYNC', 'old', Number(r1) - 1],
      ['ADDED', 'a', Number(r1)],
      ['MODIFIED', 'a', Number(r2)],
      ['DELETED', 'old', Number(r2) + 1],
    ]);
    ac.abort();
    await w.done;
  });

  test('resumes at another endpoint when its member dies, missing and repeating nothing', async () => {
    const from = api.revision;
    const w = collect({ fromRevision: from });
    await until(() => api.openWatches === 1, 'the watch to open');
    const writes = (async () => {
      for (let i = 0; i < 40; i++) {
        await client.configMaps.create(cm(`c${i}`));
        if (i % 3 === 0) await client.configMaps.delete('default', `c${i}`);
        if (i === 12) await servers[0]!.stop(); // the member serving the watch dies mid-stream
        if (i === 25) api.breakWatches(); // and later a stream breaks on a live member
        await sleep(1);
      }
    })();
    await writes;
    const expected = api.revision - from;
    await until(() => w.seen.length >= expected, `${expected} events`);
    await sleep(50); // nothing more may come
    assert.equal(w.seen.length, expected, 'no event repeated');
    const revisions = w.seen.map((s) => s[2]);
    assert.deepEqual(
      revisions,
      Array.from({ length: expected }, (_, i) => from + 1 + i),
      'every revision exactly once, in order',
    );
    assert.ok(api.calls.filter((c) => c.method === 'watch').length >= 3, 'the watch reconnected');
    assert.ok(api.calls.some((c) => c.method === 'watch' && c.endpoint === servers[1]!.address));
  });

  test('a stream that breaks inside a transaction resumes inside it', async () => {
    const w = collect({ fromRevision: api.revision });
    await until(() => api.openWatches === 1, 'the watch to open');
    api.watchFault = { afterEvents: 1, times: 2 }; // the next two streams break after one event each
    api.breakWatches();
    await until(() => api.openWatches === 1 && api.watchFault?.times === 1, 'the faulty stream');
    await client.txn([
      { op: 'create', object: cm('t1') },
      { op: 'create', object: cm('t2') },
      { op: 'create', object: cm('t3') },
    ]);
    await client.configMaps.create(cm('after'));
    await until(() => w.seen.length === 4, 'four events');
    await sleep(30);
    const rev = api.revision;
    assert.deepEqual(w.seen, [
      ['ADDED', 't1', rev - 1],
      ['ADDED', 't2', rev - 1],
      ['ADDED', 't3', rev - 1],
      ['ADDED', 'after', rev],
    ]);
  });

  test('relists on OUT_OF_RANGE and sends a RESYNC with the current set', async () => {
    api.seed(cm('keep'));
    api.seed(cm('drop'));
    const start = api.revision;
    const w = collect({ fromRevision: start });
    await until(() => api.openWatches === 1, 'the watch to open');
    // While the watch is cut off, objects change and the history is compacted past it.
    api.failNext({ method: 'watch', code: Status.UNAVAILABLE, times: 2 });
    api.breakWatches();
    await client.configMaps.delete('default', 'drop');
    await client.configMaps.create(cm('new'));
    api.compact();
    await until(() => w.seen.length === 1, 'the RESYNC');
    assert.deepEqual(w.seen[0], ['RESYNC', 'keep,new', api.revision]);
    await client.configMaps.create(cm('later'));
    await until(() => w.seen.length === 2, 'the change after the RESYNC');
    assert.deepEqual(w.seen[1], ['ADDED', 'later', api.revision]);
  });

  test('an OUT_OF_RANGE straight after a list pauses before listing again', async () => {
    api.failNext({ method: 'watch', code: Status.OUT_OF_RANGE, times: 3 });
    const pauses: number[] = [];
    const w = collect({ onRetry: (_err, ms) => pauses.push(ms) });
    await until(() => w.seen.length === 4, 'four RESYNCs');
    await client.configMaps.create(cm('then'));
    await until(() => w.seen.length === 5, 'the change');
    assert.deepEqual(
      w.seen.map((x) => x[0]),
      ['RESYNC', 'RESYNC', 'RESYNC', 'RESYNC', 'ADDED'],
    );
    assert.equal(pauses.length, 3);
    assert.ok(pauses.every((ms) => ms > 0));
  });

  test('a watch from a compacted revision starts with a RESYNC', async () => {
    api.seed(cm('x'));
    api.compact();
    const w = collect({ fromRevision: 1 });
    await until(() => w.seen.length === 1, 'the RESYNC');
    assert.deepEqual(w.seen[0], ['RESYNC', 'x', api.revision]);
  });

  test('yields BOOKMARKs with progressNotify', async () => {
    api.bookmarkIntervalMs = 20;
    const w = collect({ fromRevision: api.revision, progressNotify: true });
    await until(() => w.seen.length >= 1, 'a bookmark');
    assert.deepEqual(w.seen[0], ['BOOKMARK', '', api.revision]);
  });

  test('throws for a refused request instead of retrying it', async () => {
    const events = client.configMaps.watch({ fromRevision: 1, labelSelector: 'a in (', signal: ac.signal });
    const err = await (async () => {
      for await (const _ of events) assert.fail('no event expected');
    })().catch((e: unknown) => e);
    assert.ok(isInvalid(err), String(err));
  });

  test('ends quietly when the consumer stops', async () => {
    const events = client.configMaps.watch();
    for await (const ev of events) {
      assert.equal(ev.type, 'RESYNC');
      break;
    }
    await until(() => api.openWatches === 0, 'the stream to close');
  });
});

describe('Informer', () => {
  let api: TestApi;
  let server: TestApiServer;
  let client: TugClient;

  beforeEach(async () => {
    api = new TestApi();
    server = await TestApiServer.start(api);
    client = new TugClient({ endpoints: [server.address], backoffMs: 5, backoffMsMax: 50 });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  test('lists, watches, caches by namespace/name and tells handlers keys only', async () => {
    api.seed(cm('a'));
    const informer = client.configMaps.informer({ namespace: 'default' });
    const told: string[] = [];
    informer.addHandler({
      onAdd: (k) => told.push(`add ${k}`),
      onUpdate: (k) => told.push(`update ${k}`),
      onDelete: (k) => told.push(`delete ${k}`),
    });
    informer.start();
    await informer.waitForSync();
    assert.ok(informer.hasSynced);
    assert.deepEqual(informer.keys(), ['default/a']);
    assert.ok(Object.isFrozen(informer.get('default/a')?.data), 'cached objects are frozen');

    await client.configMaps.create(cm('b'));
    const a = await client.configMaps.get('default', 'a');
    await client.configMaps.update({ ...a, data: { value: '2' } });
    await client.configMaps.delete('default', 'b');
    await until(() => told.length === 4, 'four notifications');
    assert.deepEqual(told, ['add default/a', 'add default/b', 'update default/a', 'delete default/b']);
    assert.equal(informer.getByName('default', 'a')?.data?.['value'], '2');
    assert.equal(informer.get('default/b'), undefined);
    assert.equal(informer.revision, api.revision);
    await informer.stop();
    await until(() => api.openWatches === 0, 'the stream to close');
  });

  test('after a gap past the history, a RESYNC tells what was added, changed and deleted', async () => {
    api.seed(cm('same'));
    api.seed(cm('changed'));
    api.seed(cm('deleted'));
    const informer = client.configMaps.informer();
    const told: string[] = [];
    informer.addHandler({
      onAdd: (k) => told.push(`add ${k}`),
      onUpdate: (k) => told.push(`update ${k}`),
      onDelete: (k) => told.push(`delete ${k}`),
    });
    const errors: unknown[] = [];
    const withErrors = client.configMaps.informer({ onError: (e) => errors.push(e) });
    withErrors.start();
    informer.start();
    await informer.waitForSync();
    await withErrors.waitForSync();
    told.length = 0;

    api.failNext({ method: 'watch', code: Status.UNAVAILABLE, times: 4 });
    api.breakWatches();
    const c = await client.configMaps.get('default', 'changed');
    await client.configMaps.update({ ...c, data: { value: 'x' } });
    await client.configMaps.delete('default', 'deleted');
    await client.configMaps.create(cm('added'));
    api.compact();
    await until(() => told.length === 3, 'three notifications');
    assert.deepEqual(told.sort(), ['add default/added', 'delete default/deleted', 'update default/changed']);
    assert.deepEqual(informer.keys().sort(), ['default/added', 'default/changed', 'default/same']);
    assert.ok(errors.length > 0, 'recovered errors are reported');
    await informer.stop();
    await withErrors.stop();
  });

  test('a throwing handler does not stop the informer', async () => {
    const errors: unknown[] = [];
    const informer = client.configMaps.informer({ onError: (e) => errors.push(e) });
    const keys: string[] = [];
    informer.addHandler(() => {
      throw new Error('handler bug');
    });
    informer.addHandler((k) => keys.push(k));
    informer.start();
    await informer.waitForSync();
    await client.configMaps.create(cm('z'));
    await until(() => keys.length === 1, 'the second handler');
    assert.match(String(errors[0]), /handler bug/);
    await informer.stop();
  });
});
