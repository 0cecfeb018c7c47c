/**
 * Scenario tests that read like the Raft paper and dissertation: a small cluster driven by hand
 * (deliver these messages, drop those, cut a link, tick), each test named after the property
 * or figure it shows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeId } from '@tugboat/raft';
import { Harness, type HarnessOptions } from './harness.ts';

/** logOf lists "index/term" of the entries a member has stored after index `from`. */
function logOf(h: Harness, id: NodeId, from = 0): string {
  const w = h.member(id).disk.written;
  return w.entries
    .filter((e) => e.index > from)
    .map((e) => `${e.index}/${e.term}`)
    .join(' ');
}

/** run advances time: `ticks` rounds of one tick for every running member, each followed by full delivery. */
function run(h: Harness, ticks: number): void {
  for (let i = 0; i < ticks; i++) {
    h.tickAll(1);
    h.stabilize();
  }
}

function leaders(h: Harness): NodeId[] {
  return [...h.members.values()].filter((m) => m.core !== null && m.core.status().role === 'leader').map((m) => m.id);
}

const five = ['s1', 's2', 's3', 's4', 's5'];
const three = ['n1', 'n2', 'n3'];

describe('Figure 8: a leader never commits an entry of an earlier term by counting replicas', () => {
  // Plain Raft as in the paper; one entry per append message so the test controls exactly
  // which entries a follower has. The bootstrap configuration occupies indexes 1..5 (term 1),
  // and s1's first no-op sits at 6 (term 2); the paper's "index 2" is index 7 here.
  const options: HarnessOptions = { preVote: false, checkQuorum: false, maxMsgBytes: 1 };

  /** Steps (a) to (c): returns a harness where x (7/2) is on s1..s4 and s1 leads term 4. */
  function figure8c(): Harness {
    const h = new Harness(five, options);
    // (a) s1 leads term 2 and replicates x at index 7 to s2 only.
    h.elect('s1');
    assert.deepEqual(h.propose('s1', 'x2'), { ok: true, index: 7, term: 2 });
    h.deliver({ to: 's2', type: 'append' });
    h.drop();
    // (b) s1 crashes; s5 wins term 3 with votes from s3 and s4 and appends its own entry at 7.
    h.crash('s1');
    h.campaign('s5');
    h.drop({ to: 's2' });
    h.deliver({ type: 'vote' });
    h.deliver({ type: 'voteResp' });
    assert.equal(h.status('s5').role, 'leader');
    assert.equal(h.status('s5').term, 3);
    h.drop();
    assert.equal(logOf(h, 's5', 5), '6/2 7/3');
    // (c) s5 crashes, s1 restarts and wins term 4 (its first try, term 3, fails: s3 and s4 voted).
    h.crash('s5');
    h.restart('s1');
    h.campaign('s1');
    h.stabilize();
    h.campaign('s1');
    h.deliver({ type: 'vote' });
    h.deliver({ type: 'voteResp' });
    assert.equal(h.status('s1').role, 'leader');
    assert.equal(h.status('s1').term, 4);
    // s1 brings s3 and s4 up to index 7 (their first append is rejected, then 7 alone arrives)
    // but the appends carrying its own no-op at 8 are lost.
    h.drop({ to: 's2' });
    h.deliver({ type: 'append' });
    h.deliver({ type: 'appendResp' });
    h.deliver({ to: 's3', type: 'append' });
    h.deliver({ to: 's4', type: 'append' });
    h.deliver({ type: 'appendResp' });
    for (const id of ['s1', 's2', 's3', 's4']) assert.match(logOf(h, id, 5), /^6\/2 7\/2/, `${id} holds x`);
    return h;
  }

  it('(c) x from term 2 is on a majority, yet the term-4 leader does not commit it', () => {
    const h = figure8c();
    assert.equal(h.status('s1').commit, 6);
    assert.ok(h.pending({ type: 'append', to: 's3' }).every((m) => m.entries[0]?.index === 8), 'only the no-op is left to send');
  });

  it('(d) so s5 may still win term 5 and replace x, and nobody ever applied x', () => {
    const h = figure8c();
    h.drop();
    h.crash('s1');
    h.restart('s5');
    h.campaign('s5'); // term 4: s2, s3, s4 already voted for s1 there
    h.stabilize();
    h.campaign('s5'); // term 5: its last entry 7/3 beats their 7/2
    h.stabilize();
    run(h, 2); // the followers learn the new commit index
    assert.equal(h.status('s5').role, 'leader');
    assert.equal(h.status('s5').term, 5);
    for (const id of ['s2', 's3', 's4', 's5']) {
      assert.equal(h.member(id).disk.written.termAt(7), 3, `${id} has s5's entry at 7`);
      assert.ok(!h.member(id).applied.includes('x2'), `${id} applied x`);
      assert.ok(h.status(id).commit >= 8);
    }
  });

  it('(e) once s1 replicates an entry of its own term to a majority, x is committed and s5 cannot win', () => {
    const h = figure8c();
    h.deliver({ type: 'append' }); // the no-op at 8, to s3 and s4
    h.deliver({ type: 'appendResp' });
    assert.equal(h.status('s1').commit, 8);
    h.stabilize();
    assert.ok(h.member('s1').applied.includes('x2'));
    h.crash('s1');
    h.restart('s5');
    for (let i = 0; i < 3; i++) {
      h.campaign('s5');
      h.stabilize();
    }
    assert.notEqual(h.status('s5').role, 'leader');
  });
});

describe('a partitioned member rejoins with a higher term', () => {
  for (const preVote of [true, false]) {
    for (const checkQuorum of [true, false]) {
      const name = `preVote=${preVote} checkQuorum=${checkQuorum}: ${preVote ? 'the leader keeps its leadership' : 'the leader is disrupted, but n3 cannot win'}`;
      it(name, () => {
        const h = new Harness(three, { preVote, checkQuorum });
        h.elect('n1');
        const term = h.status('n1').term;
        h.isolate('n3');
        assert.equal(h.propose('n1', 'during-partition').ok, true);
        run(h, 50); // five election timeouts
        assert.equal(h.status('n1').role, 'leader');
        assert.equal(h.status('n3').term > term, !preVote, `n3 is at term ${h.status('n3').term}`);
        h.heal();
        run(h, 40);
        if (preVote) {
          assert.deepEqual(leaders(h), ['n1']);
          assert.equal(h.status('n1').term, term);
        } else {
          const [l] = leaders(h);
          assert.ok(l === 'n1' || l === 'n2', `leader ${l}`);
          assert.ok(h.status(l!).term > term);
        }
        assert.equal(h.status('n3').leader, leaders(h)[0]);
        assert.ok(h.member('n3').applied.includes('during-partition'));
      });
    }
  }
});

describe('a removed member that keeps campaigning does not disrupt the cluster', () => {
  const combos: [boolean, boolean][] = [
    [true, false],
    [false, true],
    [true, true],
  ];
  for (const [preVote, checkQuorum] of combos) {
    it(`preVote=${preVote} checkQuorum=${checkQuorum}`, () => {
      const h = new Harness(three, { preVote, checkQuorum });
      h.elect('n1');
      // n3 is cut off, so it never learns that it was removed.
      h.isolate('n3');
      assert.equal(h.proposeConfChange('n1', { type: 'remove', nodeId: 'n3', context: '' }).ok, true);
      h.stabilize();
      assert.deepEqual(h.status('n1').membership.voters, ['n1', 'n2']);
      assert.equal(h.status('n1').commit, h.status('n1').lastIndex);
      assert.deepEqual(h.status('n3').membership.voters, ['n1', 'n2', 'n3']);
      const term = h.status('n1').term;
      h.heal();
      run(h, 60);
      assert.ok(['preCandidate', 'candidate'].includes(h.status('n3').role), 'n3 keeps campaigning');
      assert.deepEqual(leaders(h), ['n1']);
      assert.equal(h.status('n1').term, term);
      assert.equal(h.status('n2').term, term);
      assert.equal(h.propose('n1', 'after').ok, true);
      run(h, 2);
      assert.ok(h.member('n2').applied.includes('after'));
    });
  }

  it('without either, its elections do disrupt (why pre-vote or check-quorum is needed)', () => {
    const h = new Harness(three, { preVote: false, checkQuorum: false });
    h.elect('n1');
    h.isolate('n3');
    h.proposeConfChange('n1', { type: 'remove', nodeId: 'n3', context: '' });
    h.stabilize();
    const term = h.status('n1').term;
    h.heal();
    run(h, 60);
    assert.ok(h.status('n1').term > term);
    assert.notEqual(h.status('n3').role, 'leader');
  });
});

describe('a voter whose term ran ahead while its configuration went stale', () => {
  // Found by the simulation (npm run sim -- --seed 900389 --count 1 --nodes 3). With neither
  // pre-vote nor check-quorum, a member that ignored stale-term appends without answering kept
  // the leader from ever learning its higher term, while its own vote requests went only to
  // members that had all been replaced. Answering every stale request with the current term
  // (§5.1) makes the leader step down, and the next election (which n3 cannot win) brings n3 back.
  it(
    'is brought back once the partition heals (§5.1: a stale request is answered with the current term)',
    () => {
      const h = new Harness(three, { preVote: false, checkQuorum: false });
      h.elect('n1');
      h.isolate('n3');
      for (const id of ['n4', 'n5']) {
        h.addJoiner(id);
        h.isolate('n3');
        assert.ok(h.proposeConfChange('n1', { type: 'add', nodeId: id, context: `addr-${id}` }).ok);
        run(h, 5);
      }
      for (const id of ['n2', 'n1']) {
        assert.ok(h.proposeConfChange('n1', { type: 'remove', nodeId: id, context: '' }).ok);
        run(h, 5);
      }
      h.crash('n1');
      h.crash('n2');
      run(h, 50);
      assert.deepEqual(h.status('n4').membership.voters, ['n3', 'n4', 'n5']);
      assert.deepEqual(h.status('n3').membership.voters, ['n1', 'n2', 'n3']);
      assert.ok(h.status('n3').term > h.status('n4').term);
      h.heal();
      run(h, 100);
      const [l] = leaders(h);
      assert.ok(l !== undefined && h.propose(l, 'after').ok);
      run(h, 20);
      assert.ok(h.member('n3').applied.includes('after'), `n3 is ${h.status('n3').role} at term ${h.status('n3').term}, commit ${h.status('n3').commit}`);
    },
  );
});

describe('a snapshot arrives during a membership change', () => {
  it('a joining member gets a multi-chunk snapshot taken before the change, then the change itself', () => {
    const h = new Harness(three, { snapshotChunkBytes: 16 });
    h.elect('n1');
    for (let i = 0; i < 5; i++) h.propose('n1', `c${i}`);
    h.stabilize();
    const snapIndex = h.compact('n1');
    assert.equal(h.status('n1').snapshotIndex, snapIndex);
    // n3 is cut off, so committing the change (3 of 4) needs the new member's acknowledgement.
    h.isolate('n3');
    h.addJoiner('n4');
    const cc = h.proposeConfChange('n1', { type: 'add', nodeId: 'n4', context: 'addr-n4' });
    assert.ok(cc.ok);
    h.tick('n1'); // the heartbeat is n4's first contact with the leader
    const chunks: number[] = [];
    for (let round = 0; round < 200 && h.inFlight.length > 0; round++) {
      for (const m of h.pending({ type: 'snapshot' })) {
        chunks.push(m.offset);
        assert.deepEqual(m.snapshotMeta!.membership.voters, ['n1', 'n2', 'n3'], 'the snapshot predates the change');
        assert.ok(h.status('n1').commit < cc.index, 'the change cannot commit before n4 has the snapshot');
      }
      h.deliver();
    }
    assert.ok(new Set(chunks).size > 1, `snapshot sent in ${new Set(chunks).size} chunk(s)`);
    assert.ok(h.status('n1').commit >= cc.index, 'the change committed');
    assert.deepEqual(h.status('n4').membership.voters, ['n1', 'n2', 'n3', 'n4']);
    assert.equal(h.status('n4').snapshotIndex, snapIndex);
    run(h, 2); // n4 learns that the change is committed and applies it
    const sm1 = h.member('n1').sm;
    const sm4 = h.member('n4').sm;
    assert.equal(sm4.applied, sm1.applied);
    assert.deepEqual([sm4.h1, sm4.h2], [sm1.h1, sm1.h2]);
    assert.equal(h.propose('n1', 'after-join').ok, true);
    run(h, 2);
    assert.ok(h.member('n4').applied.includes('after-join'));
  });
});

describe('check-quorum: a leader that loses its majority steps down', () => {
  it('with check-quorum it becomes a follower within an election timeout or two', () => {
    const h = new Harness(three, { checkQuorum: true, electionTicks: 10 });
    h.elect('n1');
    h.isolate('n1');
    h.tick('n1', 20);
    assert.equal(h.status('n1').role, 'follower');
    assert.equal(h.propose('n1', 'x').ok, false);
  });

  it('without it, the cut-off leader goes on believing it leads', () => {
    const h = new Harness(three, { checkQuorum: false, electionTicks: 10 });
    h.elect('n1');
    h.isolate('n1');
    h.tick('n1', 100);
    assert.equal(h.status('n1').role, 'leader');
  });
});

describe('leadership transfer', () => {
  it('to an up-to-date follower: timeoutNow at once, proposals refused meanwhile, new leader next term', () => {
    const h = new Harness(three);
    h.elect('n1');
    h.propose('n1', 'a');
    h.stabilize();
    const term = h.status('n1').term;
    assert.equal(h.transferLeadership('n1', 'n2'), undefined);
    assert.equal(h.pending({ type: 'timeoutNow', to: 'n2' }).length, 1);
    const refused = h.propose('n1', 'during');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error, 'transferring');
    h.stabilize();
    assert.deepEqual(leaders(h), ['n2']);
    assert.equal(h.status('n2').term, term + 1);
  });

  it('to a lagging follower: the leader first catches it up, then hands over', () => {
    const h = new Harness(three);
    h.elect('n1');
    h.cutLink('n1', 'n3');
    for (let i = 0; i < 4; i++) h.propose('n1', `c${i}`);
    h.stabilize();
    assert.ok(h.status('n3').lastIndex < h.status('n1').lastIndex, 'n3 lags');
    h.heal();
    assert.equal(h.transferLeadership('n1', 'n3'), undefined);
    assert.equal(h.pending({ type: 'timeoutNow' }).length, 0, 'no handover before n3 has caught up');
    assert.ok(h.pending({ type: 'append', to: 'n3' }).length > 0);
    h.stabilize();
    assert.deepEqual(leaders(h), ['n3']);
    for (let i = 0; i < 4; i++) assert.ok(h.member('n3').applied.includes(`c${i}`));
  });
});

describe('ReadIndex', () => {
  it('the leader releases a read at its commit index only after a heartbeat round confirms it still leads', () => {
    const h = new Harness(three);
    h.elect('n1');
    h.propose('n1', 'a');
    h.stabilize();
    const commit = h.status('n1').commit;
    assert.equal(h.readIndex('n1', 'r1'), undefined);
    const beats = h.pending({ type: 'heartbeat' });
    assert.equal(beats.length, 2);
    assert.ok(beats.every((m) => m.context === 'r1'));
    assert.deepEqual(h.member('n1').readStates, []);
    h.deliver({ type: 'heartbeat' });
    assert.deepEqual(h.member('n1').readStates, [], 'not before an acknowledgement arrives');
    h.deliver({ type: 'heartbeatResp', from: 'n2' });
    assert.deepEqual(h.member('n1').readStates, [{ index: commit, context: 'r1' }]);
  });

  it('a follower read is forwarded to the leader and comes back after the round', () => {
    const h = new Harness(three);
    h.elect('n1');
    h.propose('n1', 'a');
    h.stabilize();
    assert.equal(h.readIndex('n2', 'r2'), undefined);
    h.deliver({ type: 'readIndex' });
    assert.deepEqual(h.member('n2').readStates, []);
    h.stabilize();
    assert.deepEqual(h.member('n2').readStates, [{ index: h.status('n1').commit, context: 'r2' }]);
  });

  it('a leader cut off from the majority never releases the read', () => {
    const h = new Harness(three, { checkQuorum: false });
    h.elect('n1');
    h.isolate('n1');
    h.readIndex('n1', 'r3');
    run(h, 30);
    assert.deepEqual(h.member('n1').readStates, []);
  });
});
