// chaos-node.test.ts: a node of a local cluster dies and comes back (root). On a 2-node cluster
// with one control node, killNode ends every process of node-2 (tug-agent, containerd, the shim
// and the container of a pod running there); with the default settings the control plane marks
// the Node Unknown, taints it and deletes its pod within 10 s; startNode brings the node back
// Ready. `tug chaos pause-node` hangs its agent until the Node turns Unknown, `status` lists
// the fault and `heal --all` wakes it; the chaos log holds every action with its time.
// `kill-leader` kills the leading tug-control and `heal --all` brings it back. `partition` cuts
// node-2 off (a pod there out of reach from node-1) until `heal`; `kill-pod` crashes a pod and
// its agent makes it again. Then
// `tug chaos kill-node` kills it again and `down` still removes everything.
// Needs root, containerd, runc and the CNI plugins (deploy/setup.sh); fails naming what is missing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Node, Pod } from '@tugboat/api';
import { runCaptured } from '@tugboat/cli';
import { TugClient, isNotFound } from '@tugboat/client';
import { adminSecurity, downCluster, existingPlan, fetchPage, killNode, nodeProcesses, startNode, upCluster } from '@tugboat/localcluster';
import type { ClusterInfo, NodePlan } from '@tugboat/localcluster';

const NAME = `ch${process.pid % 100000}`;
const WEB = 'tugboat.local/web:latest';

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > giveUp) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function readyOf(n: Node): string | undefined {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

const tug = (args: string[]) => runCaptured(args);

describe('chaos: kill-node and start-node', { timeout: 300_000 }, () => {
  let info: ClusterInfo;
  let client: TugClient;
  let node2: NodePlan;

  before(async () => {
    info = await upCluster({ name: NAME, nodes: 2, control: 1, timeoutMs: 90_000 });
    client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir), retryBudgetMs: 10_000 });
    node2 = existingPlan(NAME).nodes.find((n) => n.name === 'node-2')!;
  });

  after(async () => {
    client?.close();
    const r = await downCluster(NAME);
    assert.deepEqual(r.left, [], 'down leaves nothing, also after a kill-node');
  });

  it('kill-node ends every process of the node; its pod is deleted within 10 s; start-node brings it back Ready', async (t) => {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'victim', namespace: 'default' },
      spec: { nodeName: 'node-2', terminationGracePeriodSeconds: 2, containers: [{ name: 'web', image: WEB, imagePullPolicy: 'Never' }] },
    };
    await client.pods.create(pod);
    await waitFor('pod victim to run', 60_000, async () => ((await client.pods.get('default', 'victim')).status?.phase === 'Running' ? true : undefined));
    const before = nodeProcesses(node2, undefined).map((p) => p.what);
    for (const what of ['agent', 'containerd', 'shim', 'container'] as const) assert.ok(before.includes(what), `node-2 runs a ${what} (found ${before.join(', ')})`);

    const killedAt = Date.now();
    const r = await killNode(NAME, 'node-2');
    const killed = new Set(r.killed.map((p) => p.what));
    assert.deepEqual([...killed].sort(), ['agent', 'container', 'containerd', 'shim']);
    assert.deepEqual(nodeProcesses(node2, undefined), [], 'nothing of node-2 runs');
    const state = JSON.parse(readFileSync(existingPlan(NAME).stateFile, 'utf8')) as { downNodes?: string[] };
    assert.deepEqual(state.downNodes, ['node-2']);
    const node1 = nodeProcesses(existingPlan(NAME).nodes[0]!, undefined).map((p) => p.what);
    assert.ok(node1.includes('agent') && node1.includes('control') && node1.includes('containerd'), 'node-1 runs on');

    const unknown = await waitFor('node-2 to be Unknown and tainted', 15_000, async () => {
      const n = await client.nodes.get('node-2');
      return readyOf(n) === 'Unknown' && (n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute') ? n : undefined;
    });
    assert.ok(unknown);
    await waitFor('pod victim to be deleted', 15_000, async () => {
      try {
        await client.pods.get('default', 'victim');
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    });
    const goneAfterMs = Date.now() - killedAt;
    t.diagnostic(`pod of the killed node deleted ${goneAfterMs} ms after the kill`);
    assert.ok(goneAfterMs < 10_000, `the pod of the killed node was deleted ${goneAfterMs} ms after the kill (within 10 s)`);

    const started = await startNode(NAME, 'node-2');
    assert.deepEqual(started.map((p) => p.role), ['containerd', 'agent']);
    await waitFor('node-2 to be Ready and untainted again', 60_000, async () => {
      const n = await client.nodes.get('node-2');
      return readyOf(n) === 'True' && (n.spec?.taints ?? []).length === 0 ? true : undefined;
    });
    t.diagnostic(`node-2 Ready again ${Date.now() - killedAt - goneAfterMs} ms after its pod was deleted`);
    const after = nodeProcesses(node2, undefined).map((p) => p.what);
    assert.ok(after.includes('agent') && after.includes('containerd'), `node-2 runs again (${after.join(', ')})`);
    const restarted = JSON.parse(readFileSync(existingPlan(NAME).stateFile, 'utf8')) as { downNodes?: string[] };
    assert.deepEqual(restarted.downNodes, []);
  });

  it("pause-node hangs a node's agent until the Node turns Unknown; status lists it; heal --all wakes it Ready; the chaos log has each action", async () => {
    const paused = await tug(['chaos', 'pause-node', 'node-2', '--name', NAME]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /^paused node-2 of local cluster "ch\d+": tug-agent \(pid \d+\)\n$/);
    const again = await tug(['chaos', 'pause-node', 'node-2', '--name', NAME]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /node-2 of local cluster .* is paused already/);
    await waitFor('node-2 to be Unknown while paused', 20_000, async () => (readyOf(await client.nodes.get('node-2')) === 'Unknown' ? true : undefined));
    const status = await tug(['chaos', 'status', '--name', NAME]);
    assert.match(status.stdout, /^node-2: paused \(tug chaos resume-node node-2\)\nchaos log: \/.*chaos\.log\n$/);
    const healed = await tug(['chaos', 'heal', '--all', '--name', NAME]);
    assert.equal(healed.code, 0, healed.stderr);
    assert.match(healed.stdout, /healed local cluster "ch\d+": node-2 resumed/);
    await waitFor('node-2 to be Ready again after resume', 30_000, async () => (readyOf(await client.nodes.get('node-2')) === 'True' ? true : undefined));
    assert.equal((await tug(['chaos', 'status', '--name', NAME])).stdout.split('\n')[0], 'no active faults');
    const notPaused = await tug(['chaos', 'resume-node', 'node-2', '--name', NAME]);
    assert.equal(notPaused.code, 1);
    assert.match(notPaused.stderr, /node-2 of local cluster .* is not paused/);
    const log = readFileSync(`${existingPlan(NAME).baseDir}/chaos.log`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: string; action: string; node: string });
    assert.deepEqual(log.map((e) => `${e.action} ${e.node}`).slice(-4), ['kill-node node-2', 'start-node node-2', 'pause-node node-2', 'resume-node node-2']);
    assert.ok(log.every((e) => !Number.isNaN(Date.parse(e.time))), 'each line has its time');
  });

  it('kill-leader kills the leading tug-control; status lists its node down; heal --all brings the control plane back', async () => {
    const killed = await tug(['chaos', 'kill-leader', '--name', NAME]);
    assert.equal(killed.code, 0, killed.stderr);
    assert.match(killed.stdout, /^killed the leader node-1 \(term \d+\) of local cluster "ch\d+": tug-control \(pid \d+\)\n$/);
    assert.match((await tug(['chaos', 'status', '--name', NAME])).stdout, /^node-1: down \(tug chaos start-node node-1\)\n/);
    const healed = await tug(['chaos', 'heal', '--all', '--name', NAME]);
    assert.equal(healed.code, 0, healed.stderr);
    assert.match(healed.stdout, /node-1 started/);
    await waitFor('a leader again', 30_000, async () => {
      const st = await client.cluster.status().catch(() => undefined);
      return st?.members.some((m) => m.role === 'leader') === true ? true : undefined;
    });
    await waitFor('node-2 Ready with the control plane back', 30_000, async () => (readyOf(await client.nodes.get('node-2')) === 'True' ? true : undefined));
  });

  it("partition cuts node-2 off (its pod unreachable from node-1) until heal; kill-pod crashes a pod and its agent makes it again", async () => {
    // The control plane was just down: until node-2's unreachable taint is gone, a pod bound there is evicted at once.
    await waitFor('node-2 Ready and untainted', 30_000, async () => {
      const n = await client.nodes.get('node-2');
      return readyOf(n) === 'True' && (n.spec?.taints ?? []).length === 0 ? true : undefined;
    });
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'cut', namespace: 'default' },
      spec: {
        nodeName: 'node-2',
        terminationGracePeriodSeconds: 2,
        containers: [{ name: 'web', image: WEB, imagePullPolicy: 'Never' }],
        // Cut off for longer than the node grace, node-2 turns unreachable: the pod stays, as a
        // pod that tolerates it does, so that the heal can find it again.
        tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }],
      },
    };
    await client.pods.create(pod);
    const running = await waitFor('pod cut to be Ready', 60_000, async () => {
      const p = await client.pods.get('default', 'cut');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? p : undefined;
    });
    const node1 = existingPlan(NAME).nodes[0]!.netnsPath;
    const url = `http://${running.status?.podIP}:8080/`;
    assert.equal(await fetchPage(node1, url), 'cut', 'node-1 reaches the pod on node-2');

    const cut = await tug(['chaos', 'partition', 'node-2', '--name', NAME]);
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stdout, /^partitioned local cluster "ch\d+": node-2 drops node-1; node-1 drops node-2\n$/);
    await assert.rejects(fetchPage(node1, url), 'the pod is out of reach while node-2 is cut off');
    assert.match((await tug(['chaos', 'status', '--name', NAME])).stdout, /^partition: node-2 drops node-1; node-1 drops node-2 \(tug chaos heal\)\n/);
    const overlap = await tug(['chaos', 'partition', 'node-1', '--from', 'node-1,node-2', '--name', NAME]);
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /node-1 cannot be on both sides of a partition/);
    const healed = await tug(['chaos', 'heal', '--name', NAME]);
    assert.equal(healed.code, 0, healed.stderr);
    assert.equal(await fetchPage(node1, url), 'cut', 'reachable again after the heal');
    await waitFor('pod cut Ready again after the heal', 30_000, async () => {
      const p = await client.pods.get('default', 'cut');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? true : undefined;
    });
    assert.equal((await tug(['chaos', 'status', '--name', NAME])).stdout.split('\n')[0], 'no active faults');

    const crashed = await tug(['chaos', 'kill-pod', 'cut', '--name', NAME]);
    assert.equal(crashed.code, 0, crashed.stderr);
    assert.match(crashed.stdout, /^killed pod default\/cut on node-2 of local cluster "ch\d+": \d+ process(es)?\n$/);
    const again = await waitFor('pod cut made again and Ready', 60_000, async () => {
      const p = await client.pods.get('default', 'cut');
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      return ready && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0 ? p : undefined;
    });
    assert.equal(await fetchPage(node1, `http://${again.status?.podIP}:8080/`), 'cut');
    await client.pods.delete('default', 'cut');
  });

  it('tug chaos: start-node refuses a running node; kill-node names what it killed', async () => {
    const running = await tug(['chaos', 'start-node', 'node-1', '--name', NAME]);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /node-1 of local cluster .* is running already/);
    const missing = await tug(['chaos', 'kill-node', 'node-9', '--name', NAME]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no node node-9/);
    const killed = await tug(['chaos', 'kill-node', 'node-2', '--name', NAME]);
    assert.equal(killed.code, 0, killed.stderr);
    assert.match(killed.stdout, /^killed node-2 of local cluster "ch\d+": tug-agent \(pid \d+\), containerd \(pid \d+\)/);
    assert.deepEqual(nodeProcesses(node2, undefined), []);
    // `after` runs down with node-2 dead: it must still remove everything.
  });
});
