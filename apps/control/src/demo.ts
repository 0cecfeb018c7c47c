// demo.ts (npm run demo): a local 3-member tug-control cluster as separate processes on
// 127.0.0.1. Proposes commands, SIGKILLs the leader, shows the new one and how long it took,
// proposes more, restarts the killed member and shows it caught up, then checks that every
// acknowledged command is on every member in the same order. Prints PASS, or FAIL and exits 1.
// Everything it starts (processes, temp dirs) is removed at the end, also on failure or Ctrl-C.
import { ControlCluster } from '@tugboat/testing';
import type { LoggedCommand, ProposeAnswer } from '@tugboat/testing';

const encoder = new TextEncoder();
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const ms = (t0: number): string => `${Math.round(performance.now() - t0)} ms`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => ('  ' + r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).trimEnd()).join('\n');
}

async function printStatus(cluster: ControlCluster): Promise<void> {
  const rows = [['name', 'pid', 'role', 'term', 'commit', 'applied', 'commands']];
  for (const [name, s] of await cluster.statuses()) {
    const pid = String(cluster.member(name).pid ?? '-');
    if (s instanceof Error) rows.push([name, pid, 'down', '-', '-', '-', '-']);
    else rows.push([name, pid, s.role, String(s.term), String(s.commit), String(s.applied), String(s.commands)]);
  }
  console.log(table(rows));
}

async function main(): Promise<boolean> {
  const t0 = performance.now();
  console.log(bold('tugboat Raft demo: 3 tug-control members as separate processes on 127.0.0.1'));
  const cluster = await ControlCluster.start({ size: 3, dirPrefix: 'tug-demo-' });
  try {
    for (const m of cluster.members) console.log(`  ${m.name}: pid ${m.pid}, api ${m.apiAddress}, peer ${m.peerAddress}`);
    const first = await cluster.leader();
    console.log(`  cluster up in ${ms(t0)}; leader ${bold(first.name)} (term ${first.term})`);
    console.log(`  data and logs in ${cluster.dir}`);

    const client = cluster.client({ deadlineMs: 15_000 });
    const acked: { id: string; answer: ProposeAnswer }[] = [];
    const propose = async (id: string, text: string): Promise<void> => {
      const answer = await client.propose(id, encoder.encode(text));
      acked.push({ id, answer });
      console.log(`  ${id.padEnd(8)} -> position ${answer.position}, raft index ${answer.index}${answer.attempts > 1 ? ` (${answer.attempts} attempts)` : ''}`);
    };

    console.log(bold('\n1. Propose 5 commands'));
    for (let i = 1; i <= 5; i++) await propose(`cmd-${i}`, `set key${i}=value${i}`);
    console.log('  a retry with an id already applied is answered, not applied again:');
    const dup = await client.propose('cmd-3', encoder.encode('set key3=other'));
    console.log(`  cmd-3    -> position ${dup.position}, duplicate=${dup.duplicate}`);
    await printStatus(cluster);

    console.log(bold(`\n2. SIGKILL the leader ${first.name} (pid ${cluster.member(first.name).pid})`));
    const killedAt = performance.now();
    await cluster.kill(first.name);
    const [next, firstWriteMs] = await Promise.all([
      cluster.waitForLeader({ exclude: first.name, minTerm: first.term + 1, pollMs: 10 }),
      client.propose('cmd-6', encoder.encode('set key6=after-kill')).then((answer) => {
        acked.push({ id: 'cmd-6', answer });
        return Math.round(performance.now() - killedAt);
      }),
    ]);
    console.log(`  new leader ${bold(next.name)} (term ${next.term}) seen ${Math.round(next.seenAtMs - killedAt)} ms after the kill`);
    console.log(`  first command after the kill (cmd-6) committed ${firstWriteMs} ms after the kill`);

    console.log(bold('\n3. Propose 4 more commands with one member down'));
    for (let i = 7; i <= 10; i++) await propose(`cmd-${i}`, `set key${i}=value${i}`);
    await printStatus(cluster);

    console.log(bold(`\n4. Restart ${first.name} on its data dir`));
    const restartAt = performance.now();
    await cluster.restart(first.name);
    const commit = Number((await cluster.status(next.name)).commit);
    await cluster.waitApplied(first.name, commit);
    console.log(`  ${first.name} is back (pid ${cluster.member(first.name).pid}) and applied up to index ${commit} in ${ms(restartAt)}`);
    await printStatus(cluster);

    console.log(bold('\n5. Verify: every acknowledged command on every member, in the same order'));
    const finalCommit = Number((await cluster.status((await cluster.leader()).name)).commit);
    await Promise.all(cluster.members.map((m) => cluster.waitApplied(m.name, finalCommit)));
    const logs = new Map<string, LoggedCommand[]>();
    for (const m of cluster.members) logs.set(m.name, await client.readAll({ address: m.apiAddress, linearizable: false }));
    const problems: string[] = [];
    const expected = [...acked].sort((a, b) => a.answer.position - b.answer.position);
    for (const [name, log] of logs) {
      const ids = log.map((c) => c.id);
      const want = expected.map((a) => a.id);
      if (ids.join(',') !== want.join(',')) problems.push(`${name} has [${ids.join(', ')}], expected [${want.join(', ')}]`);
      for (const a of acked) {
        const c = log.find((x) => x.id === a.id);
        if (c === undefined || c.position !== a.answer.position || c.index !== a.answer.index) {
          problems.push(`${name}: ${a.id} acknowledged at position ${a.answer.position}/index ${a.answer.index}, found ${c === undefined ? 'nothing' : `${c.position}/${c.index}`}`);
        }
      }
      console.log(`  ${name}: ${log.length} commands: ${ids.join(' ')}`);
    }
    for (const p of problems) console.log(`  problem: ${p}`);
    const ok = problems.length === 0;
    console.log(ok ? bold(`\nPASS`) + ` (${acked.length} acknowledged commands identical on all members; ${ms(t0)} in all)` : bold('\nFAIL'));
    return ok;
  } catch (err) {
    console.log(`\nFAIL: ${(err as Error).message}`);
    for (const m of cluster.members) console.log(`--- last log lines of ${m.name}\n${cluster.logTail(m.name, 8)}`);
    return false;
  } finally {
    await cluster.stop();
    console.log(`  cleaned up: members stopped, ${cluster.dir} removed`);
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(`FAIL: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
