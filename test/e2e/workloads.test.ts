// workloads.test.ts: the scheduler and the controllers on a local 3-node cluster with real
// containers: a Deployment spread over the nodes, a rolling update that keeps enough pods
// Ready and drops no request of a client polling the pods, rollback, a Raft leader killed
// mid-rollout, drain, a pod that fits nowhere, and a node killed with its pods replaced
// elsewhere within 10 s. Needs root; the cluster is torn down at the end, also on failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Deployment, Pod } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { runCaptured } from '@tugboat/cli';
import { adminSecurity, downCluster, killProcess, leftovers, startProcess, upCluster, isServing, pollServingPods } from '@tugboat/localcluster';
import type { ClusterInfo } from '@tugboat/localcluster';
import { localClusterFlags } from '../support/local-cluster-cli.ts';

const NAME = `wl${process.pid % 1000}`;
const NS = 'default';
const V1 = 'tugboat.local/web:latest';
const V2 = 'tugboat.local/web:v2';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function deployment(replicas: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'web',
              image: V1,
              imagePullPolicy: 'Never',
              ports: [{ containerPort: 8080 }],
              // Serve on for 2 s after SIGTERM, as a workload rolled without dropping requests
              // must: a client that listed the pod just before its deletion still gets an answer.
              env: [{ name: 'DRAIN_SECONDS', value: '2' }],
              readinessProbe: { httpGet: { port: 8080 }, periodSeconds: 1 },
              resources: { requests: { cpu: '10m', memory: '8Mi' } },
            },
          ],
        },
      },
    },
  };
}

describe('workloads on a local 3-node cluster', { timeout: 900_000 }, () => {
  let info: ClusterInfo;
  let client: TugClient;
  let downDone = false;

  const cli = (...args: string[]): Promise<CliRun> => runCaptured([...localClusterFlags(info), ...args]);

  async function webPods(): Promise<Pod[]> {
    return (await client.pods.list({ namespace: NS, labelSelector: 'app=web' })).items;
  }

  async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the e2e suite runs as root');
    await downCluster(NAME);
    info = await upCluster({ name: NAME, nodes: 3, control: 3 });
    client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir) });
  });

  after(async () => {
    client?.close();
    if (!downDone) await downCluster(NAME);
  });

  it('spreads a Deployment of 6 replicas over the 3 nodes, and rollout status reports done', async () => {
    await client.deployments.create(deployment(6));
    const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '90s');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /successfully rolled out/);
    const pods = (await webPods()).filter(isServing);
    assert.equal(pods.length, 6);
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec.nodeName ?? '', (perNode.get(p.spec.nodeName ?? '') ?? 0) + 1);
    assert.deepEqual([...perNode.entries()].sort(), [['node-1', 2], ['node-2', 2], ['node-3', 2]]);
  });

  it('rolls to a new image keeping replicas - maxUnavailable Ready, with no failed request, ending with only the new ReplicaSet', async (t) => {
    const poller = pollServingPods(client, { cluster: NAME, fromNode: 'node-1', namespace: NS, labelSelector: 'app=web' });
    let minReady = Infinity;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        minReady = Math.min(minReady, (await webPods()).filter(isServing).length);
        await sleep(100);
      }
    })();
    const set = await cli('set', 'image', 'deploy/web', `web=${V2}`);
    assert.equal(set.code, 0, set.stderr);
    const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '120s');
    watching = false;
    await watch;
    const polled = await poller.stop();
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.ok(minReady >= 5, `at least replicas - maxUnavailable = 5 Ready pods throughout (saw ${minReady})`);
    assert.deepEqual(polled.failed, [], `no failed request (${polled.ok} answered)`);
    assert.ok(polled.ok > 10, `the poller got answers (${polled.ok})`);
    t.diagnostic(`rolling update: ${polled.ok} requests answered, none failed; at least ${minReady} of 6 pods Ready throughout`);
    const rss = (await client.replicaSets.list({ namespace: NS })).items;
    const active = rss.filter((r) => (r.spec.replicas ?? 0) > 0);
    assert.equal(active.length, 1, `one ReplicaSet with replicas: ${rss.map((r) => `${r.metadata.name}=${r.spec.replicas}`).join(', ')}`);
    assert.equal(active[0]!.spec.template.spec.containers[0]!.image, V2);
    const pods = (await webPods()).filter(isServing);
    assert.equal(pods.length, 6);
    assert.ok(pods.every((p) => p.spec.containers[0]!.image === V2));
  });

  it('rollout undo returns to the previous image', async () => {
    const undo = await cli('rollout', 'undo', 'deploy/web');
    assert.equal(undo.code, 0, undo.stderr);
    const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '120s');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    const d = await client.deployments.get(NS, 'web');
    assert.equal(d.spec.template.spec.containers[0]!.image, V1);
    const history = await cli('rollout', 'history', 'deploy/web');
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /REVISION/);
  });

  it('finishes a rollout under the new leader when the Raft leader is killed mid-rollout', async () => {
    const st = await client.cluster.status();
    const leader = st.members.find((m) => m.role === 'leader');
    assert.ok(leader !== undefined, 'a leader');
    const set = await cli('set', 'image', 'deploy/web', `web=${V2}`);
    assert.equal(set.code, 0, set.stderr);
    await until('the rollout under way', 30_000, async () => ((await webPods()).some((p) => p.spec.containers[0]!.image === V2) ? true : undefined));
    await killProcess(NAME, leader.name, 'control');
    try {
      const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '120s');
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const pods = (await webPods()).filter(isServing);
      assert.equal(pods.length, 6);
      assert.ok(pods.every((p) => p.spec.containers[0]!.image === V2));
    } finally {
      startProcess(NAME, leader.name, 'control');
    }
  });

  it('drain moves the pods off a node', async () => {
    const drain = await cli('drain', 'node-2', '--timeout', '90s');
    assert.equal(drain.code, 0, drain.stdout + drain.stderr);
    const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '90s');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    const pods = (await webPods()).filter((p) => p.metadata.deletionTimestamp === undefined);
    assert.ok(pods.every((p) => p.spec.nodeName !== 'node-2'), `no pod on node-2: ${pods.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(' ')}`);
    const uncordon = await cli('uncordon', 'node-2');
    assert.equal(uncordon.code, 0, uncordon.stderr);
  });

  it('keeps a pod that fits nowhere Pending, saying why', async () => {
    await client.pods.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'huge', namespace: NS },
      spec: { containers: [{ name: 'huge', image: V1, imagePullPolicy: 'Never', resources: { requests: { memory: '1000Gi' } } }] },
    });
    const p = await until('an Unschedulable condition', 30_000, async () => {
      const pod = await client.pods.get(NS, 'huge');
      return pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False') === undefined ? undefined : pod;
    });
    const cond = p.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    assert.equal(cond.reason, 'Unschedulable');
    assert.equal(cond.message, '0/3 nodes are available: 3 Insufficient memory.');
    assert.equal(p.spec.nodeName, undefined);
    const events = await cli('get', 'events');
    assert.match(events.stdout, /FailedScheduling/);
    await client.pods.delete(NS, 'huge');
  });

  it('replaces the pods of a killed node on the other nodes within 10 s', async (t) => {
    const victim = 'node-3';
    const onVictim = (await webPods()).filter((p) => p.spec.nodeName === victim && p.metadata.deletionTimestamp === undefined);
    assert.ok(onVictim.length > 0, 'pods on the node to kill');
    const killedAt = Date.now();
    const kill = await cli('chaos', 'kill-node', victim, '--name', NAME);
    assert.equal(kill.code, 0, kill.stderr);
    const elapsed = await until('6 Ready pods off the killed node', 30_000, async () => {
      const ready = (await webPods()).filter((p) => isServing(p) && p.spec.nodeName !== victim);
      return ready.length === 6 ? Date.now() - killedAt : undefined;
    });
    assert.ok(elapsed < 10_000, `replaced in ${elapsed} ms`);
    t.diagnostic(`the pods of ${victim} were Ready on the other nodes ${elapsed} ms after the kill`);
    const start = await cli('chaos', 'start-node', victim, '--name', NAME);
    assert.equal(start.code, 0, start.stderr);
    await until(`${victim} Ready again`, 60_000, async () => {
      const n = await client.nodes.get(victim);
      return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && !(n.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/')) ? true : undefined;
    });
  });

  it('tug cluster down leaves nothing behind', async () => {
    client.close();
    const r = await downCluster(NAME);
    downDone = true;
    assert.deepEqual(r.left, []);
    assert.deepEqual(leftovers(NAME), []);
  });
});
