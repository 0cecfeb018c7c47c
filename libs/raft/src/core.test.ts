import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore, bootstrapState, joinState, newMessage, type Entry, type Message, type NodeId, type RaftConfig } from '@tugboat/raft';

/** A tiny lock-step cluster: every member's Ready is processed and its messages delivered at once. */
class Cluster {
  readonly nodes = new Map<NodeId, RaftCore>();
  readonly applied = new Map<NodeId, string[]>();
  readonly dropped = new Set<string>();
  private seed = 1;

  constructor(ids: NodeId[], extra: Partial<RaftConfig> = {}) {
    const init = bootstrapState(ids.map((id) => ({ id, context: `${id}:7401` })));
    for (const id of ids) this.add(id, init, extra);
  }

  add(id: NodeId, init = joinState(), extra: Partial<RaftConfig> = {}): void {
    const cfg: RaftConfig = { id, electionTicks: 10, randomInt: (n) => (this.seed = (this.seed * 48271) % 2147483647) % n, ...extra };
    this.nodes.set(id, new RaftCore(cfg, init));
    this.applied.set(id, []);
  }

  node(id: NodeId): RaftCore {
    const n = this.nodes.get(id);
    assert.ok(n, `no node ${id}`);
    return n;
  }

  /** Process Readies and deliver messages until nothing moves. */
  settle(limit = 1000): void {
    for (let round = 0; round < limit; round++) {
      const inflight: Message[] = [];
      for (const [id, n] of this.nodes) {
        while (n.hasReady()) {
          const rd = n.ready();
          inflight.push(...rd.messages);
          for (const e of rd.committedEntries) if (e.data.length > 0 && e.kind === 'normal') this.applied.get(id)!.push(new TextDecoder().decode(e.data));
          n.advance(rd);
        }
      }
      if (inflight.length === 0) return;
      for (const m of inflight) {
        if (this.dropped.has(m.from) || this.dropped.has(m.to)) continue;
        this.nodes.get(m.to)?.step(m);
      }
    }
    assert.fail('cluster did not settle');
  }

  tickAll(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      for (const n of this.nodes.values()) n.tick();
      this.settle();
    }
  }

  leader(): RaftCore | undefined {
    return [...this.nodes.values()].find((n) => n.status().role === 'leader' && !this.dropped.has(n.id));
  }

  propose(text: string): void {
    const l = this.leader();
    assert.ok(l, 'no leader');
    const r = l.propose(new TextEncoder().encode(text));
    assert.ok(r.ok, `proposal refused: ${JSON.stringify(r)}`);
    this.settle();
  }
}

test('a three-member cluster elects exactly one leader and replicates a command to all', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.node('a').campaign();
  c.settle();
  assert.equal(c.leader()?.id, 'a');
  c.propose('x=1');
  c.tickAll(2);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.applied.get(id), ['x=1']);
});

test('only a leader\'s Ready, changing neither term nor vote, may send before it persists; its own entries count once advanced', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const a = c.node('a');
  a.campaign();
  const campaign = a.ready();
  assert.equal(campaign.sendFirst, false, 'a candidate\'s messages wait for its state on disk');
  a.advance(campaign);
  for (const m of campaign.messages) c.node(m.to).step(m);
  c.settle();
  assert.equal(c.leader()?.id, 'a');

  assert.ok(a.propose(new TextEncoder().encode('x=1')).ok);
  const rd = a.ready();
  assert.equal(rd.sendFirst, true);
  assert.equal(rd.mustSync, true);
  assert.ok(rd.messages.some((m) => m.type === 'append'), 'the appends leave with the entry');
  // Both followers acknowledge before the leader's own write completes: a majority without it.
  for (const m of rd.messages) c.node(m.to).step(m);
  const acks: Message[] = [];
  for (const id of ['b', 'c']) {
    const f = c.node(id);
    const frd = f.ready();
    assert.equal(frd.sendFirst, false, 'a follower acknowledges only what it has persisted');
    acks.push(...frd.messages);
    f.advance(frd);
  }
  for (const m of acks) a.step(m);
  const lastIndex = a.status().lastIndex;
  assert.equal(a.status().commit, lastIndex, 'committed by the two followers');
  a.advance(rd);
  c.tickAll(2);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.applied.get(id), ['x=1'], id);
});

test('elections happen by timeout alone', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.tickAll(40);
  const leaders = [...c.nodes.values()].filter((n) => n.status().role === 'leader');
  assert.equal(leaders.length, 1);
});

test('a killed leader is replaced and committed commands survive', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.tickAll(40);
  const first = c.leader()!;
  c.propose('one');
  c.dropped.add(first.id);
  c.tickAll(60);
  const second = c.leader();
  assert.ok(second && second.id !== first.id, 'a new leader was elected');
  c.propose('two');
  c.tickAll(2);
  for (const id of c.nodes.keys()) if (id !== first.id) assert.deepEqual(c.applied.get(id), ['one', 'two']);
});

test('a follower that fell behind past compaction catches up through a chunked snapshot', () => {
  const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: 3 });
  c.node('a').campaign();
  c.settle();
  c.dropped.add('c');
  for (let i = 0; i < 5; i++) c.propose(`cmd${i}`);
  const a = c.node('a');
  a.compact(a.status().applied, new TextEncoder().encode('snapshot-bytes'));
  c.dropped.delete('c');
  let restored: string | undefined;
  for (let i = 0; i < 20 && restored === undefined; i++) {
    for (const n of c.nodes.values()) n.tick();
    for (let r = 0; r < 50; r++) {
      const msgs: Message[] = [];
      for (const n of c.nodes.values()) {
        while (n.hasReady()) {
          const rd = n.ready();
          if (rd.snapshot !== null && n.id === 'c') restored = new TextDecoder().decode(rd.snapshot.data);
          msgs.push(...rd.messages);
          n.advance(rd);
        }
      }
      for (const m of msgs) c.nodes.get(m.to)?.step(m);
      if (msgs.length === 0) break;
    }
  }
  assert.equal(restored, 'snapshot-bytes');
  assert.equal(c.node('c').status().commit, a.status().commit);
});

test("a follower refuses a snapshot its state machine cannot read, keeping its log, and names why", () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.node('a').campaign();
  c.settle();
  const b = new RaftCore({ id: 'b2', electionTicks: 10, randomInt: () => 0, checkSnapshot: (d) => (new TextDecoder().decode(d) === 'good' ? undefined : 'not a snapshot of this store') }, joinState());
  const before = b.status();
  const meta = { index: 9, term: 2, membership: { voters: ['a', 'b2'], contexts: { a: 'a:7401', b2: 'b2:7401' } } };
  const chunk = (data: string): Message => newMessage({ type: 'snapshot', from: 'a', to: 'b2', term: 2, snapshotMeta: meta, data: new TextEncoder().encode(data), done: true });
  assert.equal(b.step(chunk('garbage')), 'refused snapshot 9 from a: not a snapshot of this store');
  assert.equal(b.status().lastIndex, before.lastIndex, 'the log is as it was');
  const rd = b.ready();
  assert.equal(rd.snapshot, null);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.offset]), [['snapshotResp', 0]], 'asks for the snapshot again from the start');
  b.advance(rd);
  assert.equal(b.step(chunk('good')), undefined);
  assert.equal(b.status().lastIndex, 9);
});

test('a conf entry whose data is not a membership change is refused with its append', () => {
  const b = new RaftCore({ id: 'b', electionTicks: 10, randomInt: () => 0 }, bootstrapState(['a', 'b', 'c'].map((id) => ({ id, context: `${id}:7401` }))));
  const last = b.status().lastIndex;
  const reason = b.step(newMessage({ type: 'append', from: 'a', to: 'b', term: 2, index: last, logTerm: 1, entries: [{ index: last + 1, term: 2, kind: 'conf', data: new TextEncoder().encode('{"type":"add"}') }] }));
  assert.match(reason ?? '', /^malformed append from a: entry \d+: conf change: nodeId must be a non-empty string/);
  assert.equal(b.status().lastIndex, last);
});

test('membership: add a fourth member, then remove the leader', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.node('a').campaign();
  c.settle();
  c.add('d');
  c.tickAll(1);
  const r = c.node('a').proposeConfChange({ type: 'add', nodeId: 'd', context: 'd:7401' });
  assert.ok(r.ok);
  c.tickAll(3);
  assert.deepEqual(c.node('d').status().membership.voters, ['a', 'b', 'c', 'd']);
  c.propose('after-add');
  c.tickAll(2);
  assert.deepEqual(c.applied.get('d'), ['after-add']);
  assert.ok(c.node('a').proposeConfChange({ type: 'remove', nodeId: 'a', context: '' }).ok);
  c.tickAll(30);
  const l = c.leader();
  assert.ok(l && l.id !== 'a', 'leadership left the removed member');
  assert.deepEqual(l.status().membership.voters, ['b', 'c', 'd']);
});

test('leadership transfer hands over to the named member', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.node('a').campaign();
  c.settle();
  c.propose('x');
  assert.equal(c.node('a').transferLeadership('c'), undefined);
  c.settle();
  assert.equal(c.leader()?.id, 'c');
});

test('read index is released only after a heartbeat round confirms leadership', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.node('a').campaign();
  c.settle();
  const a = c.node('a');
  assert.equal(a.readIndex('r1'), undefined);
  const rd = a.ready();
  assert.deepEqual(rd.readStates, [], 'not released before acks');
  assert.ok(rd.messages.some((m) => m.type === 'heartbeat' && m.context === 'r1'));
  a.advance(rd);
  for (const m of rd.messages) c.nodes.get(m.to)?.step(m);
  let released: number | undefined;
  for (let i = 0; i < 5 && released === undefined; i++) {
    const msgs: Message[] = [];
    for (const n of c.nodes.values()) {
      while (n.hasReady()) {
        const r = n.ready();
        if (n.id === 'a' && r.readStates.length > 0) released = r.readStates[0]!.index;
        msgs.push(...r.messages);
        n.advance(r);
      }
    }
    for (const m of msgs) c.nodes.get(m.to)?.step(m);
  }
  assert.equal(released, a.status().commit);
});

test('malformed, misaddressed and stale messages are refused with a reason', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const b = c.node('b');
  assert.match(b.step(newMessage({ type: 'append', from: 'a', to: 'z', term: 5 })) ?? '', /misaddressed/);
  assert.match(b.step(newMessage({ type: 'append', from: 'a', to: 'b', term: -1 })) ?? '', /malformed/);
  const gap: Entry = { index: 7, term: 1, kind: 'normal', data: new Uint8Array([1]) };
  assert.match(b.step(newMessage({ type: 'append', from: 'a', to: 'b', term: 2, index: 3, entries: [gap] })) ?? '', /out of sequence/);
  assert.equal(b.step(newMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 3 })), undefined);
  assert.match(b.step(newMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 2 })) ?? '', /stale/);
});

test('a restarted member rebuilds its state from what it persisted', () => {
  const init = bootstrapState([{ id: 'solo', context: '' }]);
  const cfg: RaftConfig = { id: 'solo', randomInt: () => 0 };
  const n = new RaftCore(cfg, init);
  n.campaign();
  const disk: Entry[] = [...init.entries];
  let hard = init.hardState;
  const step = (): void => {
    while (n.hasReady()) {
      const rd = n.ready();
      if (rd.entries.length > 0) {
        disk.length = rd.entries[0]!.index - 1;
        disk.push(...rd.entries);
      }
      if (rd.hardState) hard = rd.hardState;
      n.advance(rd);
    }
  };
  step();
  assert.ok(n.propose(new TextEncoder().encode('p')).ok);
  step();
  const again = new RaftCore(cfg, { hardState: hard, snapshot: init.snapshot, entries: disk, applied: 0 });
  assert.equal(again.status().commit, n.status().commit);
  assert.equal(again.status().term, n.status().term);
  assert.throws(() => new RaftCore(cfg, { hardState: { ...hard, commit: 99 }, snapshot: init.snapshot, entries: disk, applied: 0 }), /commit index 99/);
});
