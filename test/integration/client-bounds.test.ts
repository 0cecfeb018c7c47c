// client-bounds.test.ts: what one client or namespace may take of a real tug-control, with its
// bounds lowered by flags: a node agent beyond its request rate is told to wait (and tugboat's
// client waits and succeeds, no faster than the rate allows), a client beyond its open watches
// is refused until it ends one, creates beyond a namespace's bound are refused (Events not
// counted), and watchers that stop reading do not grow the member's memory with what they miss:
// 40 of them, each missing 40 MB of changes twice, cost the member a bounded amount: the second
// round adds little to the first (the figures are printed).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isApiError } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';
import { ObjectService, Status, clientTransport, createClient, isGrpcError, retryAfterMs } from '@tugboat/proto';
import { TugCluster } from '../support/tug-cluster.ts';

const MiB = 1024 * 1024;

describe('bounds on what one client or namespace may take', () => {
  let cluster: TugCluster;
  before(async () => {
    cluster = await TugCluster.start({
      size: 1,
      dirPrefix: 'tug-bounds-',
      extraArgs: ['--max-requests-per-client', '5', '--max-watches-per-client', '2', '--max-objects-per-namespace', '20'],
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("a node agent beyond its request rate is told to wait; tugboat's client waits and gets through", async () => {
    const security = await cluster.pki!.clientSecurity({ role: 'agent', commonName: 'node-r' });
    const address = cluster.endpoints()[0]!;
    const t = clientTransport(security, address);
    const raw = createClient(ObjectService, address, { credentials: t.credentials, channelOptions: t.channelOptions });
    let refused: unknown;
    try {
      for (let i = 0; i < 30 && refused === undefined; i++) await raw.list({ kind: 'Node' }).catch((err: unknown) => (refused = err));
    } finally {
      raw.close();
    }
    assert.ok(isGrpcError(refused) && refused.code === Status.RESOURCE_EXHAUSTED, String(refused));
    assert.match(refused.message, /node "node-r" \(tugboat:nodes\) sends more than 5 requests\/s \(bursts of 10\); wait \d+ ms and send it again/);
    assert.ok((retryAfterMs(refused) ?? 0) > 0);

    const client = cluster.client({ security, retryBudgetMs: 30_000 });
    try {
      await new Promise((r) => setTimeout(r, 2_100)); // the bucket is full again
      const start = performance.now();
      for (let i = 0; i < 25; i++) await client.nodes.list();
      const seconds = (performance.now() - start) / 1000;
      assert.ok(seconds >= 2.5, `25 requests at 5/s after a burst of 10 take 3 s at least, took ${seconds.toFixed(2)} s`);
    } finally {
      client.close();
    }
  });

  it('a client beyond its open watches is refused until it ends one', async () => {
    const client = cluster.client();
    const address = cluster.endpoints()[0]!;
    const t = clientTransport(cluster.pki!.adminSecurity(), address);
    const raw = createClient(ObjectService, address, { credentials: t.credentials, channelOptions: t.channelOptions });
    const stops = [new AbortController(), new AbortController()];
    try {
      const pending = stops.map((s) => raw.watch({ kind: 'ConfigMap', namespace: 'default' }, { signal: s.signal })[Symbol.asyncIterator]().next().catch(() => undefined));
      await new Promise((r) => setTimeout(r, 500));
      const third = new AbortController();
      await assert.rejects(
        raw.watch({ kind: 'ConfigMap', namespace: 'default' }, { signal: third.signal })[Symbol.asyncIterator]().next(),
        (err: unknown) => isGrpcError(err) && err.code === Status.RESOURCE_EXHAUSTED && /admin "admin" \(tugboat:admins\) has 2 watches open, the most one client may/.test(err.message),
      );
      stops[0]!.abort();
      await pending[0];
      await new Promise((r) => setTimeout(r, 500));
      const again = new AbortController();
      const next = raw.watch({ kind: 'ConfigMap', namespace: 'default' }, { signal: again.signal })[Symbol.asyncIterator]().next();
      await new Promise((r) => setTimeout(r, 300));
      await client.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-one-ended', namespace: 'default' } });
      assert.equal((await next).value?.type, 'ADDED');
      again.abort();
    } finally {
      for (const s of stops) s.abort();
      raw.close();
      client.close();
    }
  });

  it("creates beyond a namespace's bound are refused, naming it; Events are not counted", async () => {
    const client = cluster.client();
    try {
      await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'small' } });
      for (let i = 0; i < 20; i++) await client.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: 'small' } });
      await assert.rejects(
        client.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c20', namespace: 'small' } }),
        (err: unknown) => isApiError(err) && err.code === Status.RESOURCE_EXHAUSTED && /namespace "small" holds 20 objects \(Events not counted\), the most it may hold is 20/.test(err.message),
      );
      await client.events.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'e1', namespace: 'small' },
        involvedObject: { kind: 'ConfigMap', namespace: 'small', name: 'c0' },
        reason: 'Test',
        message: 'not counted',
        type: 'Normal',
      });
      await client.configMaps.delete('small', 'c0');
      await client.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c20', namespace: 'small' } });
    } finally {
      client.close();
    }
  });

  it('watchers that stop reading do not grow the member with what they miss', async () => {
    const admin = cluster.client();
    const rss = async (): Promise<number> => Number((await cluster.memberStatus('c1', 5_000)).rssBytes);
    const objects = 10;
    const rounds = 500;
    const value = 'x'.repeat(8 * 1024);
    await admin.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bulk' } });
    for (let i = 0; i < objects; i++) await admin.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `b${i}`, namespace: 'bulk' } });
    // 40 viewers, each with a watch that reads its first event and then nothing.
    const watchers = 40;
    const stop = new AbortController();
    const clients: TugClient[] = [];
    try {
      for (let w = 0; w < watchers; w++) {
        const c = cluster.client({ security: await cluster.pki!.clientSecurity({ role: 'viewer', commonName: `w${w}` }) });
        clients.push(c);
        const it = c.watch('ConfigMap', { namespace: 'bulk', signal: stop.signal })[Symbol.asyncIterator]();
        void it.next().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      const writeAll = (): Promise<unknown> =>
        Promise.all(
          Array.from({ length: objects }, async (_, i) => {
            for (let r = 0; r < rounds; r++) {
              await admin.configMaps.update({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `b${i}`, namespace: 'bulk' }, data: { round: String(r), value } });
            }
          }),
        );
      // Twice the same volume: what is buffered for the watchers would grow in both rounds alike.
      const start = await rss();
      await writeAll();
      const afterFirst = await rss();
      await writeAll();
      const afterSecond = await rss();
      const missedMiB = (objects * rounds * value.length * watchers) / MiB;
      const first = (afterFirst - start) / MiB;
      const second = (afterSecond - afterFirst) / MiB;
      process.stdout.write(`# ${watchers} stalled watchers missed ${missedMiB.toFixed(0)} MiB of changes in each of two rounds; the member's RSS grew ${first.toFixed(0)} MiB, then ${second.toFixed(0)} MiB\n`);
      assert.ok(first < 400 && second < 150, `RSS grew ${first.toFixed(0)} MiB, then ${second.toFixed(0)} MiB, while stalled watchers missed ${missedMiB.toFixed(0)} MiB each round`);
    } finally {
      stop.abort();
      for (const c of clients) c.close();
      admin.close();
    }
  });
});
