import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcError, INSECURE_PLAINTEXT, Status } from '@tugboat/proto';
import { callContext, failedWith, FakeRaft, leadershipOf } from './fakes.ts';
import { Forwarding, forwardedMetadataKey } from './forwarding.ts';
import type { Leadership } from './leadership.ts';

/** An address where nothing listens: calls to it fail at once. */
const nobody = '127.0.0.1:1';

function forwarding(raft: FakeRaft, apis: Record<string, string>): { f: Forwarding; leadership: Leadership } {
  const leadership = leadershipOf(raft);
  const directory = { apiAddressOf: (name: string) => apis[name] ?? '' };
  return { f: new Forwarding({ leadership, directory, writeTimeoutMs: 10_000, maxRequestBytes: 1 << 20, security: INSECURE_PLAINTEXT }), leadership };
}


const unused = (): Promise<never> => Promise.reject(new Error('not called'));

test('no call leaves without a leader whose API address is known, nor twice', async () => {
  const raft = new FakeRaft();
  const { f, leadership } = forwarding(raft, { c2: nobody });
  await assert.rejects(f.forwardToLeader('add member', callContext(), 1_000, unused), failedWith(Status.UNAVAILABLE, /^add member: no leader is known \(election in progress\)/));
  raft.change('follower', 'c3');
  await assert.rejects(f.forwardToLeader('add member', callContext(), 1_000, unused), failedWith(Status.UNAVAILABLE, /^add member: the leader c3's API address is not known here yet; retry shortly$/));
  raft.change('leader', 'c1');
  await assert.rejects(f.forwardToLeader('add member', callContext(), 1_000, unused), failedWith(Status.UNAVAILABLE, /c1 is becoming the leader/));
  raft.change('follower', 'c2');
  const forwarded = callContext({ metadata: [forwardedMetadataKey] });
  await assert.rejects(f.forwardToLeader('add member', forwarded, 1_000, unused), failedWith(Status.UNAVAILABLE, /^add member: c1 is not the leader any more \(leader now: c2\)/));
  leadership.beginClosing();
  await assert.rejects(f.forwardToLeader('add member', callContext(), 1_000, unused), failedWith(Status.UNAVAILABLE, /^c1 is shutting down; retry at another member$/));
  f.close();
});

test('the leader gets the forwarded mark and the deadline; its refusal is passed on, not answering is UNAVAILABLE', async () => {
  const raft = new FakeRaft();
  raft.change('follower', 'c2');
  const { f } = forwarding(raft, { c2: nobody });
  const seen = await f.forwardToLeader('add member', callContext({ deadlineMs: 3_000 }), 30_000, (_c, o) => Promise.resolve(o));
  assert.deepEqual(seen.metadata, { [forwardedMetadataKey]: 'c1' });
  assert.ok(seen.timeoutMs <= 3_000 && seen.timeoutMs > 2_000);
  const refusal = new GrpcError(Status.ALREADY_EXISTS, 'member "c4" already exists');
  await assert.rejects(f.forwardToLeader('add member', callContext(), 1_000, () => Promise.reject(refusal)), failedWith(Status.ALREADY_EXISTS, /^member "c4" already exists$/));
  const lost = new GrpcError(Status.CANCELLED, 'call cancelled');
  await assert.rejects(
    f.forwardToLeader('add member', callContext(), 1_000, () => Promise.reject(lost)),
    failedWith(Status.UNAVAILABLE, /^the leader c2 at 127\.0\.0\.1:1 did not answer \(call cancelled\); retry with the same request id$/),
  );
  f.close();
});

test('a write without a request id is tried once; with one it is tried again within its deadline', async () => {
  const raft = new FakeRaft();
  raft.change('follower', 'c2');
  const { f } = forwarding(raft, { c2: nobody });
  const once = performance.now();
  await assert.rejects(f.forward('create', { requestId: '' }, callContext()), failedWith(Status.UNAVAILABLE, /^the leader c2 at 127\.0\.0\.1:1 did not answer/));
  assert.ok(performance.now() - once < 1_000);
  const again = performance.now();
  await assert.rejects(f.forward('create', { requestId: 'r1' }, callContext({ deadlineMs: 500 })), failedWith(Status.UNAVAILABLE, /did not answer/));
  assert.ok(performance.now() - again >= 400, 'waited for a new leader until the deadline');
  f.close();
});

test('memberInfo says why a member could not be asked', async () => {
  const { f } = forwarding(new FakeRaft(), { c2: nobody });
  const unknown = await f.memberInfo('c3', '127.0.0.1:7401', 500);
  assert.deepEqual(unknown, { name: 'c3', peerAddress: '127.0.0.1:7401', apiAddress: '', role: 'unknown', reachable: false, error: 'its API address is not known yet (it publishes it once it has a leader)' });
  const down = await f.memberInfo('c2', '127.0.0.1:7402', 500);
  assert.equal(down.reachable, false);
  assert.match(String(down.error), /^cannot connect \(ECONNREFUSED\)$|^no answer in time$|^UNAVAILABLE: /);
  f.close();
});
