import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Logger } from 'pino';
import {
  GrpcTransport,
  RaftNode,
  RaftStorage,
  isNotLeaderError,
  isProposalDroppedError,
  isRaftStoppedError,
  isRaftStorageCorruptError,
  isRaftStorageMismatchError,
  messageToProto,
  newMessage,
} from '@tugboat/raft';
import type { Message, MessageHandler, NodeId, RaftNodeOptions, StateMachine, Transport } from '@tugboat/raft';
import { RaftTransportService, createClient } from '@tugboat/proto';
import { entryKey } from './storage.ts';
import { ClassicLevel } from 'classic-level';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** ListMachine is a state machine that keeps every command in order; apply returns the new length. */
class ListMachine implements StateMachine {
  items: string[] = [];
  restores = 0;
  apply(e: { index: number; term: number; data: Uint8Array }): unknown {
    const s = dec.decode(e.data);
    if (s === 'throw') throw new Error('bad command');
    this.items.push(s);
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.restores++;
    this.items = JSON.parse(dec.decode(data)) as string[];
  }
}

/** FilterTransport wraps a transport so a test can cut a member off (both directions). */
class FilterTransport implements Transport {
  readonly inner: GrpcTransport;
  isolated = false;
  constructor(inner: GrpcTransport) {
    this.inner = inner;
  }
  send(msgs: readonly Message[]): void {
    if (!this.isolated) this.inner.send(msgs);
  }
  onMessage(handler: MessageHandler): void {
    this.inner.onMessage((msgs) => {
      if (!this.isolated) handler(msgs);
    });
  }
  updatePeers(peers: Readonly<Record<NodeId, string>>): void {
    this.inner.updatePeers(peers);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface LogLine {
  level: number;
  msg: string;
  node?: string;
  [k: string]: unknown;
}

interface Member {
  id: NodeId;
  ip: string;
  address: string;
  dir: string;
  sm: ListMachine;
  node: RaftNode | undefined;
  transport: FilterTransport | undefined;
}

const clusterId = 'test-cluster';
const tickMs = 20;

class Cluster {
  readonly members: Member[] = [];
  readonly lines: LogLine[] = [];
  readonly logger: Logger;
  readonly extra: Partial<RaftNodeOptions>;
  private readonly dirs: string[] = [];

  constructor(extra: Partial<RaftNodeOptions> = {}) {
    this.extra = extra;
    this.logger = pino({ level: 'info' }, { write: (s: string) => void this.lines.push(JSON.parse(s) as LogLine) });
  }

  /** create makes n members on 127.0.0.{11..} with free ports, bootstraps them and starts them. */
  async create(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.addMemberSlot(`c${i + 1}`);
    const bootstrap = this.members.map((m) => ({ id: m.id, address: m.address }));
    await Promise.all(this.members.map((m) => this.start(m, { bootstrap })));
  }

  async addMemberSlot(id: NodeId): Promise<Member> {
    const dir = await mkdtemp(join(tmpdir(), `tug-raft-driver-${id}-`));
    this.dirs.push(dir);
    const ip = `127.0.0.${11 + this.members.length}`;
    const m: Member = { id, ip, address: '', dir, sm: new ListMachine(), node: undefined, transport: undefined };
    // Listen once to learn a free port; the member keeps that address for its whole life.
    const probe = await GrpcTransport.listen({ id, clusterId, listen: `${ip}:0`, logger: this.logger.child({ node: id }) });
    m.address = probe.address;
    m.transport = new FilterTransport(probe);
    this.members.push(m);
    return m;
  }

  async start(m: Member, opts: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    if (m.transport === undefined) {
      m.transport = new FilterTransport(
        await GrpcTransport.listen({ id: m.id, clusterId, listen: m.address, logger: this.logger.child({ node: m.id }) }),
      );
    }
    m.sm = new ListMachine();
    const node = await RaftNode.start({
      id: m.id,
      clusterId,
      dataDir: m.dir,
      stateMachine: m.sm,
      transport: m.transport,
      tickMs,
      logger: this.logger,
      ...this.extra,
      ...opts,
    });
    m.node = node;
    return node;
  }

  async stop(m: Member): Promise<void> {
    const node = m.node;
    m.node = undefined;
    m.transport = undefined;
    await node?.close();
  }

  member(id: NodeId): Member {
    const m = this.members.find((x) => x.id === id);
    assert.ok(m, `no member ${id}`);
    return m;
  }

  running(): Member[] {
    return this.members.filter((m) => m.node !== undefined);
  }

  async leader(timeoutMs = 10_000, among: Member[] = this.running()): Promise<Member> {
    let found: Member | undefined;
    await waitFor('a leader', () => {
      const leaders = among.filter((m) => m.node!.status().role === 'leader' && !m.transport?.isolated);
      found = leaders.length === 1 ? leaders[0] : undefined;
      return found !== undefined;
    }, timeoutMs);
    return found!;
  }

  /** propose retries on the current leader until one accepts. */
  async propose(cmd: string): Promise<{ index: number; result: unknown }> {
    for (let attempt = 0; ; attempt++) {
      const l = await this.leader();
      try {
        return await l.node!.propose(enc.encode(cmd), { timeoutMs: 5000 });
      } catch (e) {
        if (attempt > 20) throw e;
        await sleep(tickMs * 5);
      }
    }
  }

  async converged(members: Member[] = this.running(), timeoutMs = 10_000): Promise<void> {
    await waitFor('state machines to converge', () => {
      const first = JSON.stringify(members[0]!.sm.items);
      return members.every((m) => JSON.stringify(m.sm.items) === first && m.node!.status().appliedIndex === members[0]!.node!.status().appliedIndex);
    }, timeoutMs);
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      await m.node?.close().catch(() => undefined);
      if (m.node === undefined) await m.transport?.close().catch(() => undefined);
    }
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function withCluster(t: TestContext, n: number, extra: Partial<RaftNodeOptions>, fn: (c: Cluster) => Promise<void>): Promise<void> {
  const c = new Cluster(extra);
  t.after(() => c.destroy());
  try {
    await c.create(n);
    await fn(c);
  } catch (e) {
    // Show what the cluster said when a test fails.
    const tail = c.lines.slice(-40).map((l) => `${l.node ?? ''} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, level: undefined, time: undefined, pid: undefined, hostname: undefined, node: undefined })}`);
    console.error(`cluster log (last 40 lines):\n${tail.join('\n')}`);
    throw e;
  }
}

test('a 3-member cluster elects one leader, replicates proposals and applies them everywhere in order', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    const leader = await c.leader();
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((s) => leader.node!.propose(enc.encode(s))));
    assert.deepEqual(results.map((r) => r.result).sort(), [1, 2, 3, 4]);
    // Indexes are distinct and each result is the list length at that index.
    assert.equal(new Set(results.map((r) => r.index)).size, 4);
    await c.converged();
    for (const m of c.members) assert.deepEqual([...m.sm.items].sort(), ['a', 'b', 'c', 'd']);
    assert.ok(c.lines.some((l) => l.msg === 'raft: became leader' && l.node === leader.id));
  });
});

test('a follower refuses a proposal with NotLeaderError naming the leader and its address', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    const leader = await c.leader();
    await c.propose('x'); // wait until every member has heard of the leader
    await waitFor('followers know the leader', () => c.members.every((m) => m.node!.status().leader === leader.id));
    const follower = c.members.find((m) => m !== leader)!;
    await assert.rejects(follower.node!.propose(enc.encode('y')), (e: unknown) => {
      assert.ok(isNotLeaderError(e), String(e));
      assert.equal(e.leaderId, leader.id);
      assert.equal(e.leaderAddress, leader.address);
      return true;
    });
    assert.equal(follower.node!.status().leaderAddress, leader.address);
  });
});

test('readIndex on a follower returns only after that follower applied earlier writes', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    const leader = await c.leader();
    const follower = c.members.find((m) => m !== leader)!;
    for (let i = 0; i < 20; i++) await c.propose(`w${i}`);
    await follower.node!.readIndex();
    assert.equal(follower.sm.items.length, 20);
    await leader.node!.readIndex();
    assert.equal(leader.sm.items.length, 20);
    // Many concurrent reads share rounds and all complete.
    await Promise.all(Array.from({ length: 50 }, () => follower.node!.readIndex()));
  });
});

test('a killed follower restarts from disk and catches up; a killed leader is replaced', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    const leader = await c.leader();
    for (let i = 0; i < 10; i++) await c.propose(`a${i}`);
    await c.converged(); // every member has learned that all 10 are committed
    const victim = c.members.find((m) => m !== leader)!;
    await c.stop(victim);
    for (let i = 0; i < 10; i++) await c.propose(`b${i}`);
    await c.start(victim);
    // Restarted from disk: before start resolved it had re-applied what it had committed.
    assert.ok(victim.sm.items.length >= 10, `restart applied ${victim.sm.items.length} entries`);
    await c.converged();
    assert.equal(victim.sm.items.length, 20);

    await c.stop(leader);
    const next = await c.leader();
    assert.notEqual(next.id, leader.id);
    await c.propose('after-failover');
    await c.start(leader);
    await c.converged();
    assert.deepEqual(leader.sm.items.at(-1), 'after-failover');
    assert.ok(c.lines.some((l) => l.msg === 'raft: recovered state from disk' && l.node === victim.id));
  });
});

test('a member far behind catches up by snapshot; every member compacts its log', async (t) => {
  await withCluster(t, 3, { snapshotEntries: 25 }, async (c) => {
    const leader = await c.leader();
    const victim = c.members.find((m) => m !== leader)!;
    await c.stop(victim);
    for (let i = 0; i < 120; i++) await c.propose(`s${i}`);
    await waitFor('leader compacted', () => leader.node!.status().snapshotIndex >= 100);
    await c.start(victim);
    await c.converged();
    assert.equal(victim.sm.items.length, 120);
    assert.ok(c.lines.some((l) => l.msg === 'raft: sending snapshot' && l.node === leader.id));
    assert.ok(c.lines.some((l) => l.msg === 'raft: snapshot installed' && l.node === victim.id));
    // After a restart, state comes back from the member's own snapshot + log.
    await c.stop(victim);
    const node = await c.start(victim);
    assert.equal(victim.sm.restores, 1);
    assert.ok(node.status().snapshotIndex > 0);
    assert.ok(victim.sm.items.length >= 100);
    await c.converged();
  });
});

test('a whole cluster restarted from disk keeps its state', async (t) => {
  await withCluster(t, 3, { snapshotEntries: 15 }, async (c) => {
    for (let i = 0; i < 40; i++) await c.propose(`r${i}`);
    await c.converged();
    for (const m of c.members) await c.stop(m);
    await Promise.all(c.members.map((m) => c.start(m)));
    await c.propose('after-restart');
    await c.converged();
    for (const m of c.members) assert.equal(m.sm.items.length, 41);
  });
});

test('a member is added while the cluster serves, catches up, and can be removed', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    for (let i = 0; i < 5; i++) await c.propose(`m${i}`);
    const leader = await c.leader();
    const joiner = await c.addMemberSlot('c4');
    const peers = Object.fromEntries(c.members.filter((m) => m !== joiner).map((m) => [m.id, m.address]));
    await c.start(joiner, { peers });
    assert.equal(joiner.node!.status().membership.voters.length, 0);
    await leader.node!.addMember('c4', joiner.address);
    await c.propose('with-c4');
    await c.converged();
    assert.deepEqual(joiner.node!.status().membership.voters, ['c1', 'c2', 'c3', 'c4']);
    assert.ok(c.lines.some((l) => l.msg === 'raft: member added' && l['member'] === 'c4'));

    const l2 = await c.leader();
    const target = c.members.find((m) => m !== l2 && m !== joiner)!;
    await l2.node!.removeMember(target.id);
    await c.stop(target);
    await c.propose('without-one');
    await c.converged();
    assert.equal((await c.leader()).node!.status().membership.voters.length, 3);
  });
});

test('leadership transfer moves the leader', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    await c.propose('t');
    const leader = await c.leader();
    const target = c.members.find((m) => m !== leader)!;
    await leader.node!.transferLeadership(target.id);
    const now = await c.leader();
    assert.equal(now.id, target.id);
    await c.propose('after-transfer');
  });
});

test('a proposal on a leader cut off from the others is dropped once a new leader overwrites it', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    await c.propose('before');
    const old = await c.leader();
    old.transport!.isolated = true;
    const doomed = old.node!.propose(enc.encode('doomed'), { timeoutMs: 20_000 });
    doomed.catch(() => undefined);
    const others = c.members.filter((m) => m !== old);
    const next = await c.leader(10_000, others);
    await next.node!.propose(enc.encode('winner'));
    old.transport!.isolated = false;
    await assert.rejects(doomed, (e: unknown) => isProposalDroppedError(e));
    await c.converged();
    assert.ok(!old.sm.items.includes('doomed'));
  });
});

test('an apply that throws fails only its proposal', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    const leader = await c.leader();
    await assert.rejects(leader.node!.propose(enc.encode('throw')), /bad command/);
    const r = await leader.node!.propose(enc.encode('fine'));
    assert.equal(r.result, 1);
  });
});

test('close rejects pending requests and later calls with RaftStoppedError', async (t) => {
  await withCluster(t, 1, {}, async (c) => {
    const m = c.members[0]!;
    await c.leader();
    await c.stop(m);
    await assert.rejects(m.node?.propose(enc.encode('x')) ?? Promise.reject(new Error('gone')));
    const node = await c.start(m);
    await c.leader();
    await node.close();
    await assert.rejects(node.propose(enc.encode('late')), (e: unknown) => isRaftStoppedError(e));
    assert.equal(await node.stopped, undefined);
    m.node = undefined;
  });
});

test('a member refuses to start on corrupt or foreign data, and says why', async (t) => {
  await withCluster(t, 1, {}, async (c) => {
    const m = c.members[0]!;
    for (let i = 0; i < 3; i++) await c.propose(`x${i}`);
    await c.stop(m);
    // Foreign: another cluster id.
    await assert.rejects(
      RaftNode.start({ id: m.id, clusterId: 'other', dataDir: m.dir, stateMachine: new ListMachine(), listen: `${m.ip}:0`, logger: pino({ level: 'silent' }) }),
      (e: unknown) => isRaftStorageMismatchError(e) && /cluster "test-cluster", not node "c1" of cluster "other"/.test(e.message),
    );
    // Corrupt: flip a byte of entry 2.
    const db = new ClassicLevel<Uint8Array, Uint8Array>(m.dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const v = Uint8Array.from((await db.get(entryKey(2)))!);
    v[v.length - 1] = (v[v.length - 1] ?? 0) ^ 1;
    await db.put(entryKey(2), v);
    await db.close();
    await assert.rejects(
      RaftNode.start({ id: m.id, clusterId, dataDir: m.dir, stateMachine: new ListMachine(), listen: `${m.ip}:0`, logger: pino({ level: 'silent' }) }),
      (e: unknown) => isRaftStorageCorruptError(e) && e.key === 'entry/2',
    );
    // Neither failed start left the store locked.
    const s = await RaftStorage.open(m.dir, { nodeId: m.id, clusterId });
    await s.close();
  });
});

test('stale, foreign, unknown and malformed messages are rejected and logged; the cluster keeps serving', async (t) => {
  await withCluster(t, 3, {}, async (c) => {
    await c.propose('before');
    const leader = await c.leader();
    const target = c.members.find((m) => m !== leader)!;
    const other = c.members.find((m) => m !== leader && m !== target)!;
    assert.ok(target.node!.status().term > 1);
    const client = createClient(RaftTransportService, target.address);
    try {
      const stale = messageToProto(newMessage({ type: 'append', from: other.id, to: target.id, term: 1, index: 0, logTerm: 0 }));
      const r = await client.deliver({
        batch: {
          clusterId,
          messages: [
            stale,
            { ...stale, from: 'intruder' },
            { ...stale, term: 2n ** 60n },
            messageToProto(newMessage({ type: 'append', from: other.id, to: target.id, term: 1, index: 5, entries: [{ index: 9, term: 1, kind: 'normal', data: Uint8Array.of(1) }] })),
          ],
        },
      });
      assert.deepEqual([r.accepted, r.rejected], [2, 2]);
      await assert.rejects(client.deliver({ batch: { clusterId: 'elsewhere', messages: [stale] } }), /not this cluster/);
    } finally {
      client.close();
    }
    await waitFor('rejections logged', () => {
      const reasons = c.lines.filter((l) => /rejected/.test(l.msg)).map((l) => String(l['reason'] ?? l['clusterId'] ?? ''));
      return (
        reasons.some((r) => /^stale append/.test(r)) &&
        reasons.some((r) => /unknown sender "intruder"/.test(r)) &&
        reasons.some((r) => /above 2\^53-1/.test(r)) &&
        reasons.some((r) => /malformed append/.test(r)) &&
        reasons.some((r) => r === 'elsewhere')
      );
    });
    await c.propose('after');
    await c.converged();
  });
});

test('a node given only a listen address builds its own gRPC transport', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-raft-driver-listen-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sm = new ListMachine();
  const node = await RaftNode.start({
    id: 'solo',
    clusterId,
    dataDir: dir,
    stateMachine: sm,
    listen: '127.0.0.31:0',
    bootstrap: [{ id: 'solo', address: '127.0.0.31:1' }],
    tickMs,
    logger: pino({ level: 'silent' }),
  });
  t.after(() => node.close());
  await waitFor('solo leader', () => node.status().role === 'leader');
  assert.deepEqual(await node.propose(enc.encode('one')), { index: 3, result: 1 });
  await node.readIndex();
});
