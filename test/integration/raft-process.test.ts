// raft-process.test.ts: three command-log members (tug-control's Raft layer,
// test/support/command-log-member) as separate processes (gRPC between them on 127.0.0.1-3,
// LevelDB on disk). A client proposes 2,000 commands, 16 in flight, while the leader is
// SIGKILLed twice and restarted each time. Afterwards, on all three members:
//  - the full command logs are identical (same ids, payloads, positions and Raft indexes);
//  - every command the client saw acknowledged is there exactly once, at the position and index
//    it was acknowledged with (Raft's State Machine Safety + exactly-once retries, §6.3);
//  - no id appears twice, acknowledged or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoggedCommand, ProposeAnswer } from '../support/command-log-member/client.ts';
import { CommandLogCluster } from '../support/command-log-member/cluster.ts';

const commandCount = 2_000;
const inFlight = 16;
/** Leader kills happen once this many commands are acknowledged. */
const killAtAcks = [500, 1_200];
/** The last commands wait until both kills are done, so that every kill hits proposals in flight. */
const heldBack = 200;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const payloadOf = (i: number): Uint8Array => encoder.encode(`command ${i} ${'x'.repeat(i % 50)}`);

test('commands acknowledged across two leader kills are applied exactly once, in the same order, on every member', { timeout: 120_000 }, async (t) => {
  const cluster = await CommandLogCluster.start({ size: 3, hosts: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] });
  t.after(() => cluster.stop());
  const client = cluster.client({ deadlineMs: 30_000, attemptTimeoutMs: 2_000 });

  const acked = new Map<string, ProposeAnswer>();
  const failed = new Map<string, string>();
  let nextCommand = 0;
  let retried = 0;
  let chaosDone!: () => void;
  const chaosFinished = new Promise<void>((r) => (chaosDone = r));

  const worker = async (): Promise<void> => {
    for (;;) {
      const i = nextCommand++;
      if (i >= commandCount) return;
      if (i >= commandCount - heldBack) await chaosFinished;
      const id = `cmd-${i}`;
      try {
        const a = await client.propose(id, payloadOf(i));
        acked.set(id, a);
        if (a.attempts > 1) retried++;
      } catch (err) {
        failed.set(id, (err as Error).message);
      }
    }
  };

  // Chaos: SIGKILL the leader at each threshold, wait for a new one, restart the old one.
  const chaos = async (): Promise<void> => {
    for (const threshold of killAtAcks) {
      while (acked.size + failed.size < threshold) await new Promise((r) => setTimeout(r, 5));
      const old = await cluster.leader();
      const t0 = performance.now();
      await cluster.kill(old.name);
      const next = await cluster.waitForLeader({ exclude: old.name, minTerm: old.term + 1 });
      t.diagnostic(`killed leader ${old.name} (term ${old.term}) at ${acked.size} acks; ${next.name} leads term ${next.term} after ${Math.round(performance.now() - t0)} ms`);
      await new Promise((r) => setTimeout(r, 200));
      await cluster.restart(old.name);
    }
    chaosDone();
  };

  const started = performance.now();
  await Promise.all([...Array.from({ length: inFlight }, worker), chaos()]);
  t.diagnostic(`${acked.size} acknowledged, ${failed.size} failed, ${retried} needed retries, in ${Math.round(performance.now() - started)} ms`);
  assert.equal(failed.size, 0, `proposals failed for good: ${[...failed].slice(0, 5).join('; ')}`);
  assert.equal(acked.size, commandCount);

  // Let every member apply everything the leader has committed, then read each one's full log.
  const leader = await cluster.leader();
  const commit = Number((await cluster.status(leader.name)).commit);
  const maxAckedIndex = Math.max(...[...acked.values()].map((a) => a.index));
  assert.ok(commit >= maxAckedIndex, `leader commit ${commit} is below an acknowledged index ${maxAckedIndex}`);
  await Promise.all(cluster.members.map((m) => cluster.waitApplied(m.name, commit)));
  const logs = new Map<string, LoggedCommand[]>();
  for (const m of cluster.members) {
    logs.set(m.name, await client.readAll({ address: m.apiAddress, linearizable: false }));
  }

  const [first, ...rest] = [...logs];
  const [firstName, reference] = first!;
  for (const [name, log] of rest) {
    assert.equal(log.length, reference.length, `${name} has ${log.length} commands, ${firstName} has ${reference.length}`);
    for (let i = 0; i < log.length; i++) {
      const a = log[i]!;
      const b = reference[i]!;
      assert.ok(
        a.id === b.id && a.index === b.index && a.position === b.position && Buffer.from(a.payload).equals(Buffer.from(b.payload)),
        `position ${i + 1} differs: ${name} has ${a.id}@${a.index}, ${firstName} has ${b.id}@${b.index}`,
      );
    }
  }

  const seen = new Map<string, LoggedCommand>();
  for (const [i, c] of reference.entries()) {
    assert.equal(c.position, i + 1, `positions are not consecutive at ${i + 1}`);
    assert.ok(!seen.has(c.id), `id ${c.id} appears twice (positions ${seen.get(c.id)?.position} and ${c.position})`);
    seen.set(c.id, c);
    if (i > 0) assert.ok(c.index > reference[i - 1]!.index, `Raft indexes go backwards at position ${c.position}`);
  }
  for (const [id, a] of acked) {
    const c = seen.get(id);
    assert.ok(c !== undefined, `acknowledged ${id} is missing`);
    assert.equal(c.position, a.position, `${id} acknowledged at position ${a.position}, applied at ${c.position}`);
    assert.equal(c.index, a.index, `${id} acknowledged at index ${a.index}, applied at ${c.index}`);
    assert.equal(decoder.decode(c.payload), decoder.decode(payloadOf(Number(id.slice(4)))), `${id} has the wrong payload`);
  }
  assert.equal(reference.length, commandCount, 'the log holds a command that was never proposed');
  const restarted = cluster.members.filter((m) => m.starts > 1).map((m) => m.name);
  assert.ok(restarted.length >= 1, 'no member was restarted');
  t.diagnostic(`logs identical on ${[...logs.keys()].join(', ')} (${reference.length} commands, up to index ${commit}); restarted: ${restarted.join(', ')}`);
});
