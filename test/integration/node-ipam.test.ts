// node-ipam.test.ts: three tug-control members as processes on 127.0.0.1-3. Nodes created
// without a pod CIDR get one from the leader's node-IPAM loop, all distinct, and after the
// leader is SIGKILLed the new leader hands out the next one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '@tugboat/api';
import { TugCluster } from '../support/tug-cluster.ts';

function node(name: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } };
}

test('node IPAM: new Nodes get distinct pod CIDRs from the leader, also after a leader kill', { timeout: 90_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const client = cluster.client({ retryBudgetMs: 20_000 });

  /** cidrs waits until every named Node has a pod CIDR and returns them by name. */
  const cidrs = async (names: readonly string[], timeoutMs = 5_000): Promise<Map<string, string>> => {
    const giveUp = Date.now() + timeoutMs;
    for (;;) {
      const { items } = await client.nodes.list();
      const got = new Map(items.filter((n) => n.spec?.podCIDR).map((n) => [n.metadata.name!, n.spec!.podCIDR!]));
      if (names.every((n) => got.has(n))) return got;
      if (Date.now() > giveUp) assert.fail(`after ${timeoutMs} ms only ${[...got.keys()].join(', ') || 'no Node'} of ${names.join(', ')} had a pod CIDR`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  await client.nodes.create(node('node-a'));
  await client.nodes.create(node('node-b'));
  const first = await cidrs(['node-a', 'node-b']);
  assert.notEqual(first.get('node-a'), first.get('node-b'));
  for (const c of first.values()) assert.match(c, /^10\.244\.\d+\.0\/24$/);

  const leader = await cluster.leader();
  await cluster.kill(leader.name);
  await cluster.waitForLeader({ exclude: leader.name, minTerm: leader.term + 1 });
  await client.nodes.create(node('node-c'));
  const after = await cidrs(['node-a', 'node-b', 'node-c'], 10_000);
  assert.equal(new Set(after.values()).size, 3, `distinct pod CIDRs: ${JSON.stringify([...after])}`);
  assert.equal(after.get('node-a'), first.get('node-a'), 'an assigned CIDR never moves');
  assert.equal(after.get('node-b'), first.get('node-b'), 'an assigned CIDR never moves');
});
