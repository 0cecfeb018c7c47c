import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '@tugboat/proto';
import { NotLeaderError } from '@tugboat/raft';
import { callContext, failedWith, FakeRaft, leadershipOf } from './fakes.ts';
import type { Leadership } from './leadership.ts';
import { ReadIndex } from './read-index.ts';

function reads(raft: FakeRaft): { reads: ReadIndex; leadership: Leadership } {
  const leadership = leadershipOf(raft);
  return { reads: new ReadIndex({ leadership, raft, defaultTimeoutMs: 10_000 }), leadership };
}


test('with no leader the read waits for one, then asks it', async () => {
  const raft = new FakeRaft();
  let asked = 0;
  raft.readIndex = () => {
    asked++;
    return Promise.resolve();
  };
  const { reads: r } = reads(raft);
  setTimeout(() => raft.change('follower', 'c2'), 30);
  await r.wait(callContext());
  assert.equal(asked, 1);
});

test('no leader until the deadline: UNAVAILABLE', async () => {
  const { reads: r } = reads(new FakeRaft());
  await assert.rejects(r.wait(callContext({ deadlineMs: 100 })), failedWith(Status.UNAVAILABLE, /^read at c1: no leader is known \(election in progress\); retry, or read with stale_ok$/));
});

test('a leader that does not confirm in time: asked again, then DEADLINE_EXCEEDED', async () => {
  const raft = new FakeRaft();
  raft.change('follower', 'c2');
  let asked = 0;
  raft.readIndex = () => {
    asked++;
    return Promise.reject(new NotLeaderError('not leader', '', ''));
  };
  const { reads: r } = reads(raft);
  await assert.rejects(r.wait(callContext({ deadlineMs: 200 })), failedWith(Status.DEADLINE_EXCEEDED, /^read at c1: the leader did not confirm the read in time$/));
  assert.ok(asked >= 2, `asked ${asked} times`);
});

test('a leader change during the read makes it ask again', async () => {
  const raft = new FakeRaft();
  raft.change('follower', 'c2');
  let asked = 0;
  raft.readIndex = () => (++asked === 1 ? new Promise(() => {}) : Promise.resolve());
  const { reads: r } = reads(raft);
  setTimeout(() => raft.change('follower', 'c3'), 30);
  const t0 = performance.now();
  await r.wait(callContext());
  assert.equal(asked, 2);
  assert.ok(performance.now() - t0 < 1_000, 'not after the 2 s attempt bound');
});

test('a closing member does not read', async () => {
  const { reads: r, leadership } = reads(new FakeRaft());
  leadership.beginClosing();
  await assert.rejects(r.wait(callContext()), failedWith(Status.UNAVAILABLE, /^c1 is shutting down; read at another member$/));
});
