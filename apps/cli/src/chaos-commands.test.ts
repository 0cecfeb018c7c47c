// chaos-commands.test.ts: what `tug chaos kill-node` says it killed, and its usage errors (the
// kills themselves are test/e2e/chaos-node.test.ts's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCaptured } from '@tugboat/cli';
import { killSummary } from './chaos-commands.ts';

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
