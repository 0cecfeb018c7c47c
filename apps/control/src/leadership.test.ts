import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role, StateChange } from '@tugboat/raft';
import { FakeRaft, silentLog } from './fakes.ts';
import { Leadership } from './leadership.ts';

function following(raft: FakeRaft): { leadership: Leadership; changes: [Role, Role][] } {
  const leadership = new Leadership('c1', raft, silentLog);
  const changes: [Role, Role][] = [];
  leadership.follow((s: StateChange, was: Role) => changes.push([was, s.role]));
  return { leadership, changes };
}

test('follow tells each change with the role before it; a closing leader does not count as leader', () => {
  const raft = new FakeRaft();
  const { leadership, changes } = following(raft);
  raft.change('leader', 'c1');
  assert.equal(leadership.isLeader(), true);
  raft.change('follower', 'c2');
  assert.deepEqual(changes, [
    ['follower', 'leader'],
    ['leader', 'follower'],
  ]);
  raft.change('leader', 'c1');
  leadership.beginClosing();
  assert.equal(leadership.isLeader(), false);
  assert.equal(leadership.closing, true);
});

test('waitForLeader returns at the change that makes a leader known', async () => {
  const raft = new FakeRaft();
  const { leadership } = following(raft);
  setTimeout(() => raft.change('follower', 'c2'), 20);
  const t0 = performance.now();
  await leadership.waitForLeader('', 5_000);
  assert.ok(performance.now() - t0 < 1_000);
  assert.equal(leadership.leader(), 'c2');
});

test('waitForLeader waits for a leader other than `not`, at most `ms`; a closing member does not wait', async () => {
  const raft = new FakeRaft();
  const { leadership } = following(raft);
  raft.change('follower', 'c2');
  const t0 = performance.now();
  await leadership.waitForLeader('c2', 150);
  assert.ok(performance.now() - t0 >= 140);
  leadership.beginClosing();
  const t1 = performance.now();
  await leadership.waitForLeader('c2', 5_000);
  assert.ok(performance.now() - t1 < 1_000);
});

test('handOver transfers to the first other voter, only while leading, and gives up after 1 s', async () => {
  const raft = new FakeRaft();
  raft.voters = ['c1', 'c2', 'c3'];
  const { leadership } = following(raft);
  const asked: string[] = [];
  raft.transfer = (to) => {
    asked.push(to);
    return new Promise(() => {});
  };
  await leadership.handOver();
  assert.deepEqual(asked, [], 'a follower has nothing to hand over');
  raft.change('leader', 'c1');
  const t0 = performance.now();
  await leadership.handOver();
  assert.deepEqual(asked, ['c2']);
  assert.ok(performance.now() - t0 < 1_500);
});
