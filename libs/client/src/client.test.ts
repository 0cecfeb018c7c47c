// client.test.ts: TugClient against the in-process fake API over real gRPC on 127.0.0.1:
// failover across endpoints, which failures are retried, exactly-once writes, and the errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ConfigMap, Pod } from '@tugboat/api';
import {
  TugClient,
  isAlreadyExists,
  isApiError,
  isConflict,
  isInvalid,
  isNotFound,
  isUnavailable,
} from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { Status } from '@tugboat/proto';

/** deadAddress returns a 127.0.0.1 address nothing listens on. */
async function deadAddress(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

function pod(name: string, labels: Record<string, string> = { app: 'web' }): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { containers: [{ name: 'web', image: 'web:1' }] },
  };
}

describe('TugClient', () => {
  let api: TestApi;
  let server: TestApiServer;
  let dead: string;
  const clients: TugClient[] = [];
  const client = (endpoints: string[], opts: Partial<ConstructorParameters<typeof TugClient>[0]> = {}) => {
    const c = new TugClient({ endpoints, backoffMs: 5, backoffMsMax: 50, ...opts });
    clients.push(c);
    return c;
  };
  const callsOf = (method: string) => api.calls.filter((c) => c.method === method);

  before(async () => {
    api = new TestApi();
    server = await TestApiServer.start(api);
    dead = await deadAddress();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  test('fails over from a dead endpoint to a live one and then prefers the live one', async () => {
    const c = client([dead, server.address]);
    const before = callsOf('list').length;
    const list = await c.pods.list();
    assert.equal(list.items.length, 0);
    assert.equal(c.pool.current().address, server.address);
    await c.namespaces.get('default');
    await c.pods.list();
    assert.equal(callsOf('list').length - before, 2, 'each list reached the live server once');
  });

  test('names every endpoint and why when none can be reached, quickly', async () => {
    const other = await deadAddress();
    const c = client([dead, other]);
    const t0 = Date.now();
    const err = await c.pods.list().then(
      () => assert.fail('list succeeded'),
      (e: unknown) => e,
    );
    assert.ok(isUnavailable(err), String(err));
    assert.ok(Date.now() - t0 < 3_000, `gave up after ${Date.now() - t0} ms`);
    assert.deepEqual(
      err.failures.map((f) => [f.endpoint, f.reachable]),
      [
        [dead, false],
        [other, false],
      ],
    );
    assert.match(err.message, new RegExp(`${dead}: unreachable \\(.*ECONNREFUSED`));
    assert.ok(err.message.includes(other));
  });

  test('retries a write whose answer was lost with the same request id; it applies once', async () => {
    const c = client([server.address]);
    api.failNext({ method: 'create', code: Status.UNAVAILABLE, afterApply: true });
    const revBefore = api.revision;
    const created = await c.pods.create(pod('once'));
    assert.equal(created.metadata.name, 'once');
    const creates = callsOf('create').filter((x) => x.requestId !== '' && x.requestId === callsOf('create').at(-1)?.requestId);
    assert.deepEqual(
      creates.map((x) => x.code),
      ['UNAVAILABLE', 'OK'],
    );
    // The retry is answered the first outcome: the object as the first attempt wrote it.
    assert.equal(created.metadata.resourceVersion, String(revBefore + 1));
    assert.equal(api.object('Pod', 'default', 'once')?.metadata.resourceVersion, String(revBefore + 1), 'applied exactly once');
  });

  test('retries reads and writes on UNAVAILABLE and DEADLINE_EXCEEDED from a reachable member', async () => {
    const c = client([server.address]);
    api.failNext({ method: 'get', code: Status.UNAVAILABLE, message: 'no leader', times: 2 });
    api.failNext({ method: 'update', code: Status.DEADLINE_EXCEEDED, times: 1 });
    const ns = await c.namespaces.get('default');
    const updated = await c.namespaces.update({ ...ns, metadata: { ...ns.metadata, labels: { team: 'a' } } });
    assert.equal(updated.metadata.labels?.['team'], 'a');
    const ids = callsOf('update').slice(-2).map((x) => x.requestId);
    assert.equal(ids[0], ids[1], 'the retried update kept its request id');
  });

  test('never retries INVALID_ARGUMENT, ALREADY_EXISTS, NOT_FOUND or ABORTED', async () => {
    const c = client([server.address, server.address.replace('127.0.0.1', 'localhost')]);
    const count = () => api.calls.length;

    let n = count();
    const bad = pod('Bad_Name');
    bad.spec.containers[0]!.image = '';
    const invalid = await c.pods.create(bad).catch((e: unknown) => e);
    assert.ok(isInvalid(invalid), String(invalid));
    assert.match(invalid.message, /metadata\.name/);
    assert.match(invalid.message, /spec\.containers\[0\]\.image/);
    assert.equal(count() - n, 1);

    await c.pods.create(pod('dup'));
    n = count();
    const exists = await c.pods.create(pod('dup')).catch((e: unknown) => e);
    assert.ok(isAlreadyExists(exists));
    assert.equal(exists.message, 'pods "dup" in namespace "default" already exists');
    assert.equal(count() - n, 1);

    n = count();
    const missing = await c.pods.get('default', 'nope').catch((e: unknown) => e);
    assert.ok(isNotFound(missing));
    assert.equal(missing.message, 'pods "nope" in namespace "default" not found');
    assert.equal(missing.endpoint, server.address);
    assert.equal(count() - n, 1);

    const cur = await c.pods.get('default', 'dup');
    await c.pods.update({ ...cur, metadata: { ...cur.metadata, labels: { app: 'v2' } } });
    n = count();
    const conflict = await c.pods.update({ ...cur, metadata: { ...cur.metadata, labels: { app: 'v3' } } }).catch((e: unknown) => e);
    assert.ok(isConflict(conflict));
    assert.match(conflict.message, /has been modified/);
    assert.equal(count() - n, 1);

    n = count();
    const gone = await c.pods.delete('default', 'dup', { expectedResourceVersion: cur.metadata.resourceVersion }).catch((e: unknown) => e);
    assert.ok(isConflict(gone));
    assert.equal(count() - n, 1);
  });

  test('does not retry other server errors either', async () => {
    const c = client([server.address]);
    api.failNext({ method: 'list', code: Status.RESOURCE_EXHAUSTED, message: 'request too large' });
    const n = callsOf('list').length;
    const err = await c.pods.list().catch((e: unknown) => e);
    assert.ok(isApiError(err));
    assert.equal(err.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(err.message, 'request too large');
    assert.equal(callsOf('list').length - n, 1);
  });

  test('typed surface: every kind, selectors, status, delete, txn', async () => {
    const c = client([server.address]);
    await c.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    await c.pods.create({ ...pod('a', { app: 'a' }), metadata: { name: 'a', namespace: 'team', labels: { app: 'a' } } });
    await c.pods.create({ ...pod('b', { app: 'b' }), metadata: { name: 'b', namespace: 'team', labels: { app: 'b' } } });
    assert.deepEqual(
      (await c.pods.list({ namespace: 'team', labelSelector: 'app in (a)' })).items.map((p) => p.metadata.name),
      ['a'],
    );
    assert.deepEqual(
      (await c.pods.list({ namespace: 'team', labelSelector: { matchLabels: { app: 'b' } } })).items.map((p) => p.metadata.name),
      ['b'],
    );
    assert.deepEqual(
      (await c.pods.list({ fieldSelector: 'metadata.namespace=team,metadata.name!=a' })).items.map((p) => p.metadata.name),
      ['b'],
    );

    const a = await c.pods.get('team', 'a');
    const withStatus = await c.pods.updateStatus({ ...a, status: { phase: 'Running', podIP: '10.244.0.5' } });
    assert.equal(withStatus.status?.phase, 'Running');
    assert.equal(withStatus.metadata.generation, 1, 'status does not bump generation');

    const node = await c.nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    assert.equal((await c.nodes.get('n1')).metadata.uid, node.metadata.uid);

    const cfg: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'team' }, data: { k: 'v' } };
    const results = await c.txn([
      { op: 'create', object: cfg },
      { op: 'delete', ref: { kind: 'Pod', namespace: 'team', name: 'b' } },
    ]);
    assert.equal(results.length, 2);
    assert.equal(results[0]?.metadata.name, 'cfg');
    assert.equal(results[0]?.metadata.resourceVersion, results[1]?.metadata.resourceVersion, 'one revision');
    assert.ok(isNotFound(await c.pods.get('team', 'b').catch((e: unknown) => e)));

    const deleted = await c.pods.delete('team', 'a');
    assert.equal(deleted?.metadata.name, 'a');
    await c.nodes.delete('n1');

    const r = c.resource('Deployment');
    assert.equal(r.kind, 'Deployment');
    assert.equal(c.resource('Node').kind, 'Node');
  });

  test('delete options: a bound pod is marked, shortened, then removed with grace 0; expectedUid; Orphan', async () => {
    const c = client([server.address]);
    const bound = await c.pods.create({ ...pod('bound'), spec: { ...pod('bound').spec, nodeName: 'n1', terminationGracePeriodSeconds: 60 } });
    const t0 = Date.now();
    const marked = await c.pods.delete('default', 'bound');
    const at = Date.parse(marked?.metadata.deletionTimestamp ?? '');
    assert.ok(at >= t0 + 59_000 && at <= Date.now() + 60_000, `deletionTimestamp ${marked?.metadata.deletionTimestamp} is about now + 60 s`);
    assert.equal(marked?.metadata.deletionGracePeriodSeconds, 60);
    const live = await c.pods.get('default', 'bound');
    assert.equal(live.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp);
    const { deletionTimestamp: _t, deletionGracePeriodSeconds: _g, ...meta } = live.metadata;
    const relabeled = await c.pods.update({ ...live, metadata: { ...meta, labels: { app: 'x' } } });
    assert.equal(relabeled.metadata.deletionTimestamp, marked?.metadata.deletionTimestamp, 'an update keeps the deletion fields');
    const shorter = await c.pods.delete('default', 'bound', { gracePeriodSeconds: 20 });
    assert.equal(Date.parse(shorter?.metadata.deletionTimestamp ?? ''), at - 40_000);
    assert.ok(isConflict(await c.pods.delete('default', 'bound', { gracePeriodSeconds: 0, expectedUid: 'another' }).catch((e: unknown) => e)));
    await c.pods.delete('default', 'bound', { gracePeriodSeconds: 0, expectedUid: bound.metadata.uid });
    assert.ok(isNotFound(await c.pods.get('default', 'bound').catch((e: unknown) => e)));

    // Not bound: removed at once whatever the grace.
    await c.pods.create(pod('loose'));
    await c.pods.delete('default', 'loose', { gracePeriodSeconds: 30 });
    assert.ok(isNotFound(await c.pods.get('default', 'loose').catch((e: unknown) => e)));

    // Orphan: the dependents lose the owner's entry.
    const owner = await c.replicaSets.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'owner', namespace: 'default' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'dep' } }, template: { metadata: { labels: { app: 'dep' } }, spec: pod('x').spec } },
    });
    const ownerRef = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'owner', uid: owner.metadata.uid ?? '', controller: true };
    await c.pods.create({ ...pod('dep', { app: 'dep' }), metadata: { name: 'dep', namespace: 'default', labels: { app: 'dep' }, ownerReferences: [ownerRef] } });
    await c.replicaSets.delete('default', 'owner', { propagationPolicy: 'Orphan' });
    assert.equal((await c.pods.get('default', 'dep')).metadata.ownerReferences, undefined);
    await c.pods.delete('default', 'dep');
    await assert.rejects(c.pods.delete('default', 'dep', { gracePeriodSeconds: -1 }), /gracePeriodSeconds must be a whole number >= 0/);
  });

  test('cluster status, health and membership', async () => {
    api.members = [
      { name: 'c1', peerAddress: '127.0.0.1:7401', apiAddress: server.address, role: 'leader', term: 3, commit: 42, applied: 42, leader: 'c1', reachable: true, error: '' },
      { name: 'c2', peerAddress: '127.0.0.2:7401', apiAddress: '127.0.0.2:7400', role: 'unknown', term: 0, commit: 0, applied: 0, leader: '', reachable: false, error: 'connection refused' },
    ];
    const c = client([dead, server.address]);
    const st = await c.cluster.status();
    assert.equal(st.endpoint, server.address);
    assert.deepEqual(
      st.members.map((m) => [m.name, m.role, m.term, m.commit, m.applied, m.reachable]),
      [
        ['c1', 'leader', 3, 42, 42, true],
        ['c2', 'unknown', 0, 0, 0, false],
      ],
    );
    assert.deepEqual(await c.health(), { ready: true, name: 'c1', endpoint: server.address });
    const added = await c.cluster.addMember({ name: 'c3', peerAddress: '127.0.0.3:7401', apiAddress: '127.0.0.3:7400' });
    assert.deepEqual(
      added.map((m) => m.name),
      ['c1', 'c2', 'c3'],
    );
    const removed = await c.cluster.removeMember('c2');
    assert.deepEqual(
      removed.map((m) => m.name),
      ['c1', 'c3'],
    );
    assert.ok(isNotFound(await c.cluster.removeMember('c2').catch((e: unknown) => e)));
  });

  test('a membership change is not retried after a timeout (it carries no request id)', async () => {
    const c = client([server.address]);
    api.failNext({ method: 'removeMember', code: Status.DEADLINE_EXCEEDED });
    const n = callsOf('removeMember').length;
    const err = await c.cluster.removeMember('c3').catch((e: unknown) => e);
    assert.ok(isApiError(err));
    assert.equal(err.code, Status.DEADLINE_EXCEEDED);
    assert.equal(callsOf('removeMember').length - n, 1);
  });

  test('an aborted call throws the abort reason and stops retrying', async () => {
    const c = client([dead], { unreachableRoundsMax: 1000, retryBudgetMs: 10_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 50);
    const t0 = Date.now();
    await assert.rejects(c.pods.list({ signal: ac.signal }), /stop/);
    assert.ok(Date.now() - t0 < 2_000);
  });

  test('refuses bad options up front', () => {
    assert.throws(() => new TugClient({ endpoints: [] }), /at least one/);
    assert.throws(() => new TugClient({ endpoints: ['http://x:1'] }), /not host:port/);
    assert.throws(() => new TugClient({ endpoints: ['a:1'], retryBudgetMs: -1 }), /retryBudgetMs/);
  });
});
