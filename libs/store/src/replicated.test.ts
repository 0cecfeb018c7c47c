import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { GrpcTransport, RaftNode } from '@tugboat/raft';
import { LocalLog, ObjectStore, ReplicatedStore, isStoreError } from '@tugboat/store';
import type { KubeObject, ObjectRef, Op, StoredObject, UpdateOp, WatchEvent } from '@tugboat/store';

/** CountingLog is LocalLog counting its proposals. */
class CountingLog extends LocalLog {
  proposals = 0;
  override propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    this.proposals++;
    return super.propose(data);
  }
}

const podSpec = (image: string): unknown => ({ containers: [{ name: 'c', image }] });

/** writer gives a ReplicatedStore's write one-op helpers, answering the op's object. */
function writer(rs: ReplicatedStore) {
  const one = async (op: Op, requestId?: string): Promise<StoredObject | null> => (await rs.write([op], requestId === undefined ? {} : { requestId })).objects[0] ?? null;
  return {
    create: async (object: KubeObject, requestId?: string) => (await one({ op: 'create', object }, requestId))!,
    update: async (object: KubeObject, extra: Partial<UpdateOp> = {}) => (await one({ op: 'update', object, ...extra }))!,
    delete: (ref: ObjectRef, requestId?: string) => one({ op: 'delete', ref }, requestId),
  };
}

test('ReplicatedStore fills uid and creationTimestamp, proposes one command per write, answers a retried request id with the first outcome', async () => {
  const store = new ObjectStore();
  const log = new CountingLog(store);
  let uid = 0;
  const rs = writer(new ReplicatedStore({ log, now: () => Date.UTC(2025, 5, 1, 12, 30, 45, 678), newUid: () => `u${++uid}` }));
  await rs.create({ kind: 'Namespace', metadata: { name: 'default' } });
  const p = await rs.create({ kind: 'Pod', metadata: { name: 'a', namespace: 'default', uid: 'caller-chosen' }, spec: podSpec('x:1') });
  assert.equal(p.metadata.uid, 'u2', 'uid is the server-assigned one');
  assert.equal(p.metadata.creationTimestamp, '2025-06-01T12:30:45Z');
  assert.equal(p.metadata.resourceVersion, '2');

  const p2 = await rs.update({ ...p, spec: podSpec('x:2') }, { expectedResourceVersion: p.metadata.resourceVersion });
  assert.equal(p2.metadata.generation, 2);
  await assert.rejects(rs.update({ ...p, spec: podSpec('x:3') }, { expectedResourceVersion: p.metadata.resourceVersion }), (e) => isStoreError(e, 'Conflict'));
  await assert.rejects(rs.create({ kind: 'Pod', metadata: { name: 'a', namespace: 'default' } }), (e) => isStoreError(e, 'AlreadyExists'));
  // Bad commands fail before proposing.
  const before = log.proposals;
  await assert.rejects(rs.create({ kind: 'Pod', metadata: { name: '' } }), (e) => isStoreError(e, 'Invalid'));
  assert.equal(log.proposals, before);

  // A retried create (same requestId) answers the first result: empty, since the object changed since.
  const c1 = await rs.create({ kind: 'Pod', metadata: { name: 'b', namespace: 'default' } }, 'rq');
  await rs.update({ ...c1, status: { phase: 'Running' } });
  assert.equal(await rs.create({ kind: 'Pod', metadata: { name: 'b', namespace: 'default' } }, 'rq').catch(() => 'failed'), null);
  const gone = await rs.delete({ kind: 'Pod', namespace: 'default', name: 'b' }, 'del');
  assert.equal(gone?.metadata.name, 'b');
  assert.equal(await rs.delete({ kind: 'Pod', namespace: 'default', name: 'b' }, 'del'), null);
  // Status subresource.
  const s = await rs.update({ ...p2, spec: podSpec('ignored'), status: { phase: 'Running' } }, { subresource: 'status' });
  assert.deepEqual(s.spec, p2.spec);
  assert.deepEqual(s.status, { phase: 'Running' });
});

// ---------------------------------------------------------------------------------------------
// Three real Raft members (gRPC on loopback, LevelDB on disk), each with its own ObjectStore.

interface Member {
  id: string;
  address: string;
  dir: string;
  store: ObjectStore;
  node: RaftNode | undefined;
}

const clusterId = 'store-test';
const logger = pino({ level: 'silent' });

/** startMember starts m on `transport` (a new one on m's address if not given) with a fresh ObjectStore. */
async function startMember(m: Member, bootstrap: { id: string; address: string }[], transport?: GrpcTransport): Promise<void> {
  m.store = new ObjectStore();
  transport ??= await GrpcTransport.listen({ id: m.id, clusterId, listen: m.address, logger });
  m.node = await RaftNode.start({
    id: m.id,
    clusterId,
    dataDir: m.dir,
    stateMachine: m.store,
    transport,
    bootstrap,
    tickMs: 20,
    snapshotEntries: 40,
    logger,
  });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

test('three Raft members with ObjectStores converge to identical state; restart restores snapshot + log; a follower read after ReadIndex sees the last write', async (t) => {
  const members: Member[] = [];
  t.after(async () => {
    for (const m of members) await m.node?.close().catch(() => undefined);
    for (const m of members) await rm(m.dir, { recursive: true, force: true });
  });
  const transports: GrpcTransport[] = [];
  for (let i = 0; i < 3; i++) {
    const id = `s${i + 1}`;
    // Listening on port 0 picks a free port; the member keeps that address across restarts.
    const transport = await GrpcTransport.listen({ id, clusterId, listen: `127.0.0.${31 + i}:0`, logger });
    transports.push(transport);
    members.push({ id, address: transport.address, dir: await mkdtemp(join(tmpdir(), `tug-store-${id}-`)), store: new ObjectStore(), node: undefined });
  }
  const bootstrap = members.map((m) => ({ id: m.id, address: m.address }));
  await Promise.all(members.map((m, i) => startMember(m, bootstrap, transports[i])));

  let leader: Member | undefined;
  await waitFor('a leader', () => {
    leader = members.find((m) => m.node?.status().role === 'leader');
    return leader !== undefined;
  });
  const follower = members.find((m) => m !== leader)!;
  const followerEvents: WatchEvent[] = [];
  const watching = (async () => {
    for await (const ev of follower.store.watch({ fromRevision: 0, kind: 'Pod' })) {
      followerEvents.push(ev);
      if (followerEvents.length === 130) break;
    }
  })();

  const rs = writer(new ReplicatedStore({ log: leader!.node! }));
  await rs.create({ kind: 'Namespace', metadata: { name: 'default' } });
  const pods: StoredObject[] = await Promise.all(
    Array.from({ length: 100 }, (_, i) => rs.create({ kind: 'Pod', metadata: { name: `p${i}`, namespace: 'default' }, spec: podSpec('x:1') }, `c${i}`)),
  );
  // Binds, as the scheduler does them: CAS on the version just read.
  await Promise.all(pods.slice(0, 30).map((p) => rs.update({ ...p, spec: { ...(p.spec as object), nodeName: 'n1' } }, { expectedResourceVersion: p.metadata.resourceVersion })));

  // Linearizable read on a follower: sees the last acknowledged write.
  const last = await rs.update({ ...pods[99]!, status: { phase: 'Running' } });
  await follower.node!.readIndex();
  const seen = follower.store.get({ kind: 'Pod', namespace: 'default', name: 'p99' });
  assert.equal(seen?.metadata.resourceVersion, last.metadata.resourceVersion);

  const applied = (m: Member): number => m.node!.status().appliedIndex;
  await waitFor('members to apply everything', () => members.every((m) => applied(m) === applied(leader!)));
  const hash = leader!.store.hash();
  for (const m of members) assert.equal(m.store.hash(), hash, `${m.id} differs`);
  assert.deepEqual(follower.store.snapshot(), leader!.store.snapshot());

  await watching;
  assert.equal(followerEvents.length, 130);
  assert.deepEqual(
    followerEvents.map((e) => e.revision),
    [...followerEvents.map((e) => e.revision)].sort((a, b) => a - b),
    'events come in revision order',
  );

  // Restart the follower: its state comes back from its snapshot and the log after it.
  await follower.node!.close();
  follower.node = undefined;
  await startMember(follower, bootstrap);
  assert.ok(follower.store.compactRevision > 0, 'restored from a snapshot (snapshotEntries is 40)');
  await rs.delete({ kind: 'Namespace', name: 'default' });
  await waitFor('the restarted member to catch up', () => applied(follower) === applied(leader!));
  assert.equal(follower.store.hash(), leader!.store.hash());
  assert.deepEqual(follower.store.counts(), {});
});
