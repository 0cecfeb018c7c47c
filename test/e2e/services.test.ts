// services.test.ts: Services on a local 3-node cluster with real containers, iptables and the
// agents' cluster DNS:
//  - 300 requests through the ClusterIP, 100 from a pod on each node, reach all 3 pods (a pod
//    reaching itself through its service included: hairpin);
//  - DNS: the service by short and full name, SRV of a named port, PTR of the ClusterIP, a
//    headless service's pod IPs, NXDOMAIN for a name that does not exist;
//  - scale 3 -> 5 -> 1 moves the rotation; with 1 pod the nodePort answers on every node,
//    also on nodes that run none of the pods; with none, connections are refused at once;
//    a LoadBalancer answers on every node's address;
//    ClientIP affinity sends one client to one pod;
//  - a rolling update of 5 replicas polled through the ClusterIP fails no request, 5 times;
//  - rules flushed and unhooked by hand on a node come back;
//  - the ClusterIP and nodePort keep answering while every control member is down;
//  - a node killed: its pods leave every other node's rules within 2 s of the Node turning
//    NotReady.
// Needs root; the cluster is torn down at the end, also on failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Deployment, Pod, Service } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { runCaptured } from '@tugboat/cli';
import { adminSecurity, downCluster, existingPlan, fetchPage, isServing, killProcess, leftovers, pollUrl, startProcess, upCluster } from '@tugboat/localcluster';
import type { ClusterInfo } from '@tugboat/localcluster';
import { localClusterFlags } from '../support/local-cluster-cli.ts';
import { serviceChainName, servicePortKey } from '@tugboat/netconf';

const NAME = `sv${process.pid % 1000}`;
const NS = 'default';
const V1 = 'tugboat.local/web:latest';
const V2 = 'tugboat.local/web:v2';
const NODES = ['node-1', 'node-2', 'node-3'];

function deployment(replicas: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'web',
              image: V1,
              imagePullPolicy: 'Never',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'DRAIN_SECONDS', value: '2' }],
              readinessProbe: { httpGet: { port: 'http' }, periodSeconds: 1 },
              resources: { requests: { cpu: '10m', memory: '8Mi' } },
            },
          ],
        },
      },
    },
  };
}

function service(name: string, spec: Partial<Service['spec']>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec } };
}

describe('services on a local 3-node cluster', { timeout: 900_000 }, () => {
  let info: ClusterInfo;
  let client: TugClient;
  let vip = '';
  let downDone = false;

  const cli = (...args: string[]) => runCaptured([...localClusterFlags(info), ...args]);
  const netns = (node: string): string => {
    const n = existingPlan(NAME).nodes.find((x) => x.name === node);
    assert.ok(n !== undefined, `node ${node}`);
    return n.netnsPath;
  };
  const nodeIP = (node: string): string => info.nodes.find((x) => x.name === node)?.ip ?? '';
  /** inNode runs a command in a node's network namespace; its stdout. */
  const inNode = (node: string, argv: string[]): string => {
    const r = spawnSync('nsenter', [`--net=${netns(node)}`, ...argv], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${argv.join(' ')} in ${node}: ${r.stderr}`);
    return r.stdout;
  };

  async function servingPods(): Promise<Pod[]> {
    return (await client.pods.list({ namespace: NS, labelSelector: 'app=web' })).items.filter(isServing);
  }

  async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
      await sleep(everyMs);
    }
  }

  /** settle waits until the Deployment has `n` serving pods and no others, and every node's rules have exactly them. */
  async function settle(n: number): Promise<Pod[]> {
    const status = await cli('rollout', 'status', 'deploy/web', '--timeout', '120s');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    return until(`${n} serving pods, in every node's rules`, 60_000, async () => {
      const all = (await client.pods.list({ namespace: NS, labelSelector: 'app=web' })).items;
      const pods = all.filter(isServing);
      if (pods.length !== n || all.length !== n) return undefined;
      const chain = serviceChainName(servicePortKey(NS, 'web', 'http', 'TCP'));
      for (const node of NODES) {
        const rules = inNode(node, ['iptables-save']).split('\n').filter((l) => l.startsWith(`-A ${chain} `)).join('\n');
        if (!pods.every((p) => rules.includes(`--to-destination ${p.status?.podIP}:8080`))) return undefined;
        if ((rules.match(/DNAT/g) ?? []).length !== n) return undefined;
      }
      return pods;
    });
  }

  /** fetchAll runs `count` fetches of url inside a pod and returns the pages (FAIL for a failed fetch). */
  async function fetchFromPod(pod: string, url: string, count: number): Promise<string[]> {
    const r = await cli('exec', pod, '--', 'sh', '-c', `for i in $(seq ${count}); do timeout 5 wget -qO- ${url} || echo FAIL; done`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n');
  }

  function tally(pages: readonly string[]): Map<string, number> {
    const m = new Map<string, number>();
    for (const p of pages) m.set(p, (m.get(p) ?? 0) + 1);
    return m;
  }

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the e2e suite runs as root');
    await downCluster(NAME);
    info = await upCluster({ name: NAME, nodes: 3, control: 3 });
    client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir) });
    await client.deployments.create(deployment(3));
    const web = await client.services.create(service('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }] }));
    vip = web.spec.clusterIP ?? '';
    await client.services.create(service('web-peers', { clusterIP: 'None' }));
    await client.services.create(service('web-lb', { type: 'LoadBalancer', ports: [{ name: 'http', port: 8090, targetPort: 'http' }] }));
    await client.services.create(service('web-sticky', { sessionAffinity: 'ClientIP' }));
  });

  after(async () => {
    client?.close();
    if (!downDone) await downCluster(NAME);
  });

  it('300 requests through the ClusterIP, 100 from a pod on each node, reach all 3 pods, the asking pod included', async (t) => {
    const pods = await settle(3);
    assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), NODES, 'one pod per node');
    const names = pods.map((p) => p.metadata.name ?? '').sort();
    let total = 0;
    for (const p of pods) {
      const pages = await fetchFromPod(p.metadata.name ?? '', `http://${vip}/`, 100);
      const counts = tally(pages);
      assert.equal(counts.get('FAIL'), undefined, `failed fetches from ${p.metadata.name}`);
      assert.deepEqual([...counts.keys()].sort(), names, `${p.metadata.name} on ${p.spec.nodeName} reached every pod: ${JSON.stringify([...counts])}`);
      total += pages.length;
      t.diagnostic(`from ${p.metadata.name} (${p.spec.nodeName}): ${[...counts].map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
    assert.equal(total, 300);
  });

  it('DNS: the service by short and full name, SRV, PTR, a headless service\'s pod IPs, NXDOMAIN', async () => {
    const pods = await servingPods();
    const asker = pods[0]!.metadata.name ?? '';
    const names = new Set(pods.map((p) => p.metadata.name));
    for (const url of ['http://web/', 'http://web.default/', 'http://web.default.svc.cluster.local/']) {
      const [page] = await fetchFromPod(asker, url, 1);
      assert.ok(names.has(page), `${url} answered ${page}`);
    }
    const lookup = async (...args: string[]): Promise<string> => (await cli('exec', asker, '--', 'nslookup', ...args)).stdout;
    assert.match(await lookup('web.default.svc.cluster.local'), new RegExp(`Name:\\s+web\\.default\\.svc\\.cluster\\.local\\s+Address: ${vip.replaceAll('.', '\\.')}`));
    assert.match(await lookup('-type=srv', '_http._tcp.web.default.svc.cluster.local'), /service = 0 100 80 web\.default\.svc\.cluster\.local/);
    assert.match(await lookup(vip), /name = web\.default\.svc\.cluster\.local/);
    const headless = await lookup('web-peers.default.svc.cluster.local');
    const ips = [...headless.matchAll(/Address: (10\.244\.\d+\.\d+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(ips, pods.map((p) => p.status?.podIP).sort(), 'a headless service resolves to its ready pods');
    assert.match(await lookup('nope.default.svc.cluster.local'), /can't find nope\.default\.svc\.cluster\.local: NXDOMAIN/);
  });

  it('LoadBalancer: every node\'s address answers on the service port; ClientIP affinity keeps a client on one pod', async () => {
    const lb = await until('ingress for every node', 30_000, async () => {
      const s = await client.services.get(NS, 'web-lb');
      return (s.status?.loadBalancer?.ingress ?? []).length === 3 ? s : undefined;
    });
    const ingress = (lb.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).sort();
    assert.deepEqual(ingress, NODES.map(nodeIP).sort());
    const names = new Set((await servingPods()).map((p) => p.metadata.name));
    for (const ip of ingress) {
      const page = await fetchPage(netns('node-1'), `http://${ip}:8090/`);
      assert.ok(names.has(page), `${ip}:8090 answered ${page}`);
    }
    const sticky = (await client.services.get(NS, 'web-sticky')).spec.clusterIP ?? '';
    const pages = await fetchFromPod((await servingPods())[0]!.metadata.name ?? '', `http://${sticky}/`, 30);
    assert.equal(tally(pages).size, 1, `one pod answers a sticky client: ${JSON.stringify([...tally(pages)])}`);
  });

  it('scale 3 -> 5 -> 1 -> 0 moves the rotation; with 1 pod the nodePort answers on every node, also those without it; with none, connections are refused at once', async () => {
    assert.equal((await cli('scale', 'deploy/web', '--replicas', '5')).code, 0);
    const five = await settle(5);
    const fromNode1 = (await Promise.all(Array.from({ length: 60 }, () => fetchPage(netns('node-1'), `http://${vip}/`)))).sort();
    assert.deepEqual([...new Set(fromNode1)], five.map((p) => p.metadata.name).sort(), 'all 5 answer');

    assert.equal((await cli('scale', 'deploy/web', '--replicas', '1')).code, 0);
    const [only] = await settle(1);
    assert.ok(only !== undefined);
    for (const node of NODES) {
      for (const ip of NODES.map(nodeIP)) {
        const page = await fetchPage(netns(node), `http://${ip}:30080/`);
        assert.equal(page, only.metadata.name, `nodePort at ${ip} from ${node} (the pod is on ${only.spec.nodeName})`);
      }
    }
    // From the host, outside every node: the nodePort of the nodes that run no pod.
    for (const node of NODES.filter((n) => n !== only.spec.nodeName)) {
      const r = spawnSync('busybox', ['wget', '-qO-', `http://${nodeIP(node)}:30080/`], { encoding: 'utf8', timeout: 5_000 });
      assert.equal(r.stdout.trim(), only.metadata.name, `nodePort of ${node} from the host: ${r.stderr}`);
    }

    // No pod at all: connections are refused at once, not left to time out.
    assert.equal((await cli('scale', 'deploy/web', '--replicas', '0')).code, 0);
    await settle(0);
    for (const url of [`http://${vip}/`, `http://${nodeIP('node-2')}:30080/`]) {
      const t0 = Date.now();
      await assert.rejects(fetchPage(netns('node-1'), url), /refused/i, `${url} without endpoints`);
      assert.ok(Date.now() - t0 < 1_000, `${url} refused after ${Date.now() - t0} ms`);
    }
  });

  it('a rolling update of 5 replicas polled through the ClusterIP fails no request, 5 times in a row', async (t) => {
    assert.equal((await cli('scale', 'deploy/web', '--replicas', '5')).code, 0);
    await settle(5);
    for (let round = 1; round <= 5; round++) {
      const poller = pollUrl(`http://${vip}/`, { cluster: NAME, fromNode: 'node-1' });
      const fromPodNetwork = pollUrl(`http://${nodeIP('node-2')}:30080/`, { cluster: NAME, fromNode: 'node-3' });
      const image = round % 2 === 1 ? V2 : V1;
      assert.equal((await cli('set', 'image', 'deploy/web', `web=${image}`)).code, 0);
      await settle(5);
      const polled = await poller.stop();
      const viaNodePort = await fromPodNetwork.stop();
      assert.deepEqual(polled.failed, [], `round ${round}: failed requests through the ClusterIP`);
      assert.deepEqual(viaNodePort.failed, [], `round ${round}: failed requests through the nodePort`);
      assert.ok(polled.ok > 10 && viaNodePort.ok > 10, `round ${round}: answers (${polled.ok}, ${viaNodePort.ok})`);
      t.diagnostic(`round ${round} (to ${image}): ${polled.ok} requests through the ClusterIP and ${viaNodePort.ok} through the nodePort, none failed`);
    }
  });

  it('rules flushed and unhooked by hand on a node come back', async (t) => {
    inNode('node-2', ['iptables', '-t', 'nat', '-F', 'TUG-SERVICES']);
    inNode('node-2', ['iptables', '-t', 'nat', '-D', 'OUTPUT', '-m', 'comment', '--comment', 'tugboat service portals', '-j', 'TUG-SERVICES']);
    const broken = Date.now();
    await assert.rejects(fetchPage(netns('node-2'), `http://${vip}/`), 'nothing answers the ClusterIP without its rules');
    await until('the rules repaired', 30_000, async () => {
      try {
        return (await fetchPage(netns('node-2'), `http://${vip}/`)) === '' ? undefined : true;
      } catch {
        return undefined;
      }
    }, 250);
    t.diagnostic(`repaired ${Date.now() - broken} ms after they were broken (the agents check every 10 s)`);
    assert.match(inNode('node-2', ['iptables-save', '-t', 'nat']), /-A OUTPUT -m comment --comment "tugboat service portals" -j TUG-SERVICES/);
  });

  it('the ClusterIP and the nodePort keep answering while every control member is down', async () => {
    const pods = new Set((await servingPods()).map((p) => p.metadata.name));
    for (const node of NODES) await killProcess(NAME, node, 'control');
    try {
      await sleep(3_000); // the agents' watches notice; their rules must stay as they are
      for (let i = 0; i < 10; i++) {
        assert.ok(pods.has(await fetchPage(netns('node-1'), `http://${vip}/`)), 'the ClusterIP answers');
        assert.ok(pods.has(await fetchPage(netns('node-2'), `http://${nodeIP('node-3')}:30080/`)), 'the nodePort answers');
      }
    } finally {
      for (const node of NODES) startProcess(NAME, node, 'control');
    }
    await until('the control plane back, every Node Ready', 60_000, async () => {
      try {
        const nodes = (await client.nodes.list()).items;
        return nodes.length === 3 && nodes.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
      } catch {
        return undefined;
      }
    }, 500);
  });

  it('a killed node\'s pods leave every other node\'s rules within 2 s of the Node turning NotReady', async (t) => {
    const victim = 'node-3';
    const pods = await servingPods();
    const doomed = pods.filter((p) => p.spec.nodeName === victim).map((p) => p.status?.podIP ?? '');
    assert.ok(doomed.length > 0, `pods on ${victim}`);
    const kill = await cli('chaos', 'kill-node', victim, '--name', NAME);
    assert.equal(kill.code, 0, kill.stderr);
    const notReadyAt = await until(`${victim} NotReady`, 30_000, async () => {
      const n = await client.nodes.get(victim);
      return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status !== 'True') === true ? Date.now() : undefined;
    }, 50);
    const goneAt = await until('the killed node\'s pods out of every other node\'s rules', 10_000, async () => {
      for (const node of NODES.filter((n) => n !== victim)) {
        const rules = inNode(node, ['iptables-save', '-t', 'nat']);
        if (doomed.some((ip) => rules.includes(`--to-destination ${ip}:`))) return undefined;
      }
      return Date.now();
    }, 50);
    t.diagnostic(`out of the rules ${goneAt - notReadyAt} ms after NotReady was seen`);
    assert.ok(goneAt - notReadyAt < 2_000, `${goneAt - notReadyAt} ms`);
    assert.equal((await cli('chaos', 'start-node', victim, '--name', NAME)).code, 0);
  });

  it('tug cluster down leaves nothing behind', async () => {
    client.close();
    const r = await downCluster(NAME);
    downDone = true;
    assert.deepEqual(r.left, []);
    assert.deepEqual(leftovers(NAME), []);
  });
});
