import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOCATION_KIND, ReplicatedTokens, TOKEN_KIND } from '@tugboat/apiserver';
import type { MemberRecord } from '@tugboat/apiserver';
import { LocalLog, ObjectStore, ReplicatedStore } from '@tugboat/store';
import type { Op } from '@tugboat/store';
import { FakeRaft, silentLog } from './fakes.ts';
import { Housekeeping } from './housekeeping.ts';
import { MemberDirectory, clusterScopedKinds, memberKind } from './member-directory.ts';

const self: MemberRecord = { name: 'c1', peerAddress: '127.0.0.1:7401', apiAddress: '127.0.0.1:7400' };

/** member is c1 over an in-memory store applied at once; `asked` records its requests to the leader. */
function member(): {
  raft: FakeRaft;
  store: ObjectStore;
  directory: MemberDirectory;
  tokens: ReplicatedTokens;
  housekeeping: Housekeeping;
  write: (ops: readonly Op[]) => Promise<void>;
  asked: string[];
} {
  const raft = new FakeRaft();
  raft.voters = ['c1', 'c2'];
  const store = new ObjectStore({ clusterScopedKinds });
  const replicated = new ReplicatedStore({ log: new LocalLog(store) });
  const write = async (ops: readonly Op[]): Promise<void> => void (await replicated.write(ops));
  const directory = new MemberDirectory({ store, write, log: silentLog });
  const asked: string[] = [];
  const tokens = new ReplicatedTokens(store, write);
  const housekeeping = new Housekeeping({
    self,
    raft,
    leadership: { closing: false },
    store,
    directory,
    tokens,
    write,
    askToRecord: async (api, r) => void asked.push(`${api} ${r.name}`),
    log: silentLog,
    periodMs: 60_000,
  });
  return { raft, store, directory, tokens, housekeeping, write, asked };
}

test('the leader deletes bootstrap tokens an hour after they expired, and keeps the others', async () => {
  const { raft, store, tokens, housekeeping } = member();
  raft.role = 'leader';
  raft.leader = 'c1';
  const hour = 3_600_000;
  const token = (id: string, expiredAgoMs: number) => ({
    id,
    secretHash: '0'.repeat(64),
    role: 'agent' as const,
    description: '',
    created: new Date(Date.now() - 2 * hour - expiredAgoMs).toISOString(),
    expires: new Date(Date.now() - expiredAgoMs).toISOString(),
    maxUses: 0,
    used: 0,
    user: '',
  });
  await tokens.create(token('old000', hour + 60_000));
  await tokens.create(token('recent', 60_000));
  await tokens.create(token('live00', -hour));
  await housekeeping.round();
  assert.deepEqual(store.list({ kind: TOKEN_KIND }).items.map((o) => o.metadata.name).sort(), ['live00', 'recent']);
});

test('the member directory writes a record once, updates a stale one, and forgets one', async () => {
  const { directory, store } = member();
  await directory.record(self);
  const written = store.get({ kind: memberKind, name: 'c1' })?.metadata.resourceVersion;
  await directory.record(self);
  assert.equal(store.get({ kind: memberKind, name: 'c1' })?.metadata.resourceVersion, written, 'unchanged: not written again');
  await directory.record({ ...self, apiAddress: '127.0.0.1:7500' });
  assert.equal(directory.apiAddressOf('c1'), '127.0.0.1:7500');
  assert.equal(directory.holds(self), false);
  await directory.forget('c1');
  await directory.forget('c1');
  assert.deepEqual(directory.names(), []);
  assert.equal(directory.apiAddressOf('c1'), '');
});

test('with no leader known a round does nothing', async () => {
  const { housekeeping, store } = member();
  await housekeeping.round();
  assert.equal(store.size, 0);
});

test('the leader creates the initial objects and its record, forgets members that left, releases orphaned allocations', async () => {
  const { raft, housekeeping, store, directory, write } = member();
  await directory.record({ name: 'c9', peerAddress: '127.0.0.1:9401', apiAddress: '127.0.0.1:9400' });
  await write([{ op: 'create', object: { apiVersion: 'tugboat.internal/v1', kind: ALLOCATION_KIND, metadata: { name: 'clusterip-10.96.0.9' }, spec: { namespace: 'gone', service: 'web' } } }]);
  raft.change('leader', 'c1');
  await housekeeping.round();
  assert.ok(store.get({ kind: 'Namespace', name: 'default' }) !== undefined);
  assert.equal(directory.holds(self), true);
  assert.deepEqual(directory.names(), ['c1']);
  assert.deepEqual(store.list({ kind: ALLOCATION_KIND }).items, []);
});

test('a follower whose record is missing asks the leader to write it, once the leader API address is known', async () => {
  const { raft, housekeeping, directory, asked } = member();
  raft.change('follower', 'c2');
  await housekeeping.round();
  assert.deepEqual(asked, [], 'the leader API address is not known yet');
  await directory.record({ name: 'c2', peerAddress: '127.0.0.1:7411', apiAddress: '127.0.0.1:7410' });
  await housekeeping.round();
  assert.deepEqual(asked, ['127.0.0.1:7410 c1']);
});
