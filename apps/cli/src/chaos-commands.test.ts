// chaos-commands.test.ts: what `tug chaos kill-node` says it killed and `partition` dropped, and
// the usage errors of the chaos commands and of `chaos run`, found before anything runs (the
// faults themselves are test/e2e/chaos-node.test.ts's, the scenarios test/e2e/chaos-scenarios.test.ts's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCaptured } from '@tugboat/cli';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropList, killSummary } from './chaos-commands.ts';

test('killSummary names the daemons by pid and counts shims and container processes', () => {
  const p = (pid: number, what: 'agent' | 'control' | 'containerd' | 'shim' | 'container') => ({ pid, startTicks: '1', what });
  const killed = [p(5, 'container'), p(3, 'shim'), p(1, 'containerd'), p(2, 'agent'), p(6, 'container'), p(4, 'control')];
  assert.equal(killSummary({ node: 'node-2', killed, socketsRemoved: [] }), 'tug-agent (pid 2), tug-control (pid 4), containerd (pid 1), 1 shim, 2 container processes');
  assert.equal(killSummary({ node: 'node-2', killed: [], socketsRemoved: [] }), 'nothing was running');
});

test('a bad cluster name is a usage error', async () => {
  const { code, stderr } = await runCaptured(['chaos', 'kill-node', 'node-1', '--name', 'Bad_Name']);
  assert.equal(code, 2);
  assert.match(stderr, /--name: "Bad_Name" must be 1 to 8/);
});

test('dropList groups the drops by the node that drops', () => {
  const d = (node: string, from: string) => ({ node, from, mac: '02:00:00:00:00:01' });
  assert.equal(dropList([d('node-3', 'node-1'), d('node-1', 'node-3'), d('node-3', 'node-2')]), 'node-3 drops node-1, node-2; node-1 drops node-3');
});

test('chaos run refuses a bad scenario file, a missing one and bad flags before touching any cluster', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-chaos-run-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\nduration: 10s\nrounds: [{fault: kill-leader, target: any, hold: 1s}]\n');
    const refused = await runCaptured(['chaos', 'run', bad, '--name', 'nocl']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /bad\.yaml: rounds\[0\]\.target: kill-leader always hits the leader/);
    const missing = await runCaptured(['chaos', 'run', join(dir, 'none.yaml'), '--name', 'nocl']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read scenario file .*none\.yaml/);
    const duration = await runCaptured(['chaos', 'run', bad, '--duration', 'forever']);
    assert.equal(duration.code, 2);
    assert.match(duration.stderr, /--duration must be a duration such as 90s or 30m, got "forever"/);
    const seed = await runCaptured(['chaos', 'run', bad, '--seed', '-1']);
    assert.equal(seed.code, 2);
    assert.match(seed.stderr, /--seed must be a whole number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('netem and heal refuse what they cannot do, naming it', async () => {
  const none = await runCaptured(['chaos', 'netem', 'node-1', '--loss', '250%', '--name', 'nocl']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--loss must be a percentage from 0 to 100 such as 10%, got "250%"/);
  const both = await runCaptured(['chaos', 'heal', 'node-1', '--all', '--name', 'nocl']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--all heals every fault of every node: give no nodes with it/);
});
