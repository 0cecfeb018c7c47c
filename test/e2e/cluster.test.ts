// cluster.test.ts: the end-to-end suite. A local 3-node cluster (every node a network namespace
// with its own containerd, tug-agent and tug-control; see libs/localcluster), real containers
// through CRI, CNI bridge networking, and the `tug` CLI. Needs root and deploy/setup.sh's
// packages. The cluster is torn down at the end, also on failure, and the last test checks
// that nothing of it is left.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap, Container, Pod, Secret } from '@tugboat/api';
import { TugClient, isNotFound } from '@tugboat/client';
import { CriClient } from '@tugboat/cri';
import { cri as criApi } from '@tugboat/proto';
import { parseCidr, cidrContains } from '@tugboat/netconf';
import { runCaptured } from '@tugboat/cli';
import { adminSecurity, downCluster, killProcess, leftovers, restartProcess, startProcess, upCluster } from '@tugboat/localcluster';
import type { ClusterInfo } from '@tugboat/localcluster';
import { localClusterFlags } from '../support/local-cluster-cli.ts';

const NAME = `e2e${process.pid % 1000}`;
const NS = 'default';
const WEB = 'tugboat.local/web:latest';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

describe('a local 3-node cluster', { timeout: 600_000 }, () => {
  let info: ClusterInfo;
  let client: TugClient;
  let downDone = false;

  /** cli runs `tug` in this process against the cluster. */
  async function cli(...args: string[]): Promise<CliRun> {
    return cliWith({}, ...args);
  }

  async function cliWith(opts: { signal?: AbortSignal; onOutput?: (all: string) => void }, ...args: string[]): Promise<CliRun> {
    return runCaptured([...localClusterFlags(info), ...args], { signal: opts.signal, onStdout: opts.onOutput });
  }

  function pod(name: string, node: string, containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { nodeName: node, containers, terminationGracePeriodSeconds: 2, ...extra } };
  }

  function web(overrides: Partial<Container> = {}): Container {
    return { name: 'web', image: WEB, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }], ...overrides };
  }

  /** waitFor polls the pod until check returns true; fails with the pod's last status. */
  async function waitFor(name: string, what: string, check: (p: Pod) => boolean, timeoutMs = 60_000): Promise<Pod> {
    const deadline = Date.now() + timeoutMs;
    let last: Pod | undefined;
    while (Date.now() < deadline) {
      try {
        last = await client.pods.get(NS, name);
        if (check(last)) return last;
      } catch {
        // not there yet
      }
      await sleep(250);
    }
    assert.fail(`pod ${name}: ${what} not reached in ${timeoutMs} ms; last status: ${JSON.stringify(last?.status)}`);
  }

  const running = (p: Pod): boolean => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.state?.running !== undefined);
  const restarts = (p: Pod): number => p.status?.containerStatuses?.[0]?.restartCount ?? 0;

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the e2e suite runs as root (it makes network namespaces and runs containerd)');
    await downCluster(NAME); // a crashed earlier run of this pid's name
    info = await upCluster({ name: NAME, nodes: 3, control: 3 });
    client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir) });
  });

  after(async () => {
    client?.close();
    if (!downDone) await downCluster(NAME);
  });

  it('registers three Ready nodes with distinct pod CIDRs', async () => {
    const nodes = (await client.nodes.list()).items;
    assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['node-1', 'node-2', 'node-3']);
    const cidrs = nodes.map((n) => n.spec?.podCIDR ?? '');
    assert.equal(new Set(cidrs).size, 3, `distinct CIDRs: ${cidrs.join(', ')}`);
    for (const n of nodes) assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', `${n.metadata.name} Ready`);
    const r = await cli('get', 'nodes');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node-1\s+Ready/);
  });

  const ips = new Map<string, string>();

  it("runs a pod on each node with an IP from that node's CIDR", async () => {
    for (const i of [1, 2, 3]) await client.pods.create(pod(`web-${i}`, `node-${i}`, [web({ readinessProbe: { httpGet: { port: 8080 }, periodSeconds: 1 } })]));
    for (const i of [1, 2, 3]) {
      const p = await waitFor(`web-${i}`, 'Running and Ready', (x) => running(x) && x.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
      const ip = p.status?.podIP ?? '';
      const cidr = info.nodes.find((n) => n.name === `node-${i}`)?.podCIDR ?? '';
      assert.ok(cidrContains(parseCidr(cidr), ip), `web-${i} IP ${ip} in node-${i}'s ${cidr}`);
      ips.set(`web-${i}`, ip);
    }
    const wide = await cli('get', 'pods', '-o', 'wide');
    assert.equal(wide.code, 0, wide.stderr);
    for (const i of [1, 2, 3]) assert.match(wide.stdout, new RegExp(`web-${i}\\s+1/1\\s+Running.*${ips.get(`web-${i}`)!.replaceAll('.', '\\.')}\\s+node-${i}`));
  });

  it('lets a pod on node 1 fetch HTTP from a pod on node 3 by pod IP, and exec runs in the pod', async () => {
    const r = await cli('exec', 'web-1', '--', 'wget', '-qO-', `http://${ips.get('web-3')}:8080/`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'web-3');
    const h = await cli('exec', 'web-2', '--', 'hostname');
    assert.equal(h.stdout.trim(), 'web-2');
    const fail = await cli('exec', 'web-2', '--', 'sh', '-c', 'exit 3');
    assert.equal(fail.code, 3);
  });

  it('restarts a container that exits 1, with back-off, and tug logs shows this and the previous instance', async () => {
    await client.pods.create(pod('crash', 'node-2', [{ name: 'crash', image: WEB, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo started $RANDOM$RANDOM; exit 1'] }]));
    const p = await waitFor('crash', 'restartCount >= 2 in CrashLoopBackOff', (x) => restarts(x) >= 2 && x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff', 90_000);
    const c = p.status!.containerStatuses![0]!;
    assert.equal(c.lastState?.terminated?.exitCode, 1);
    assert.equal(p.status?.phase, 'Running'); // restartPolicy Always keeps a crash-looping pod Running
    const logs = await cli('logs', 'crash');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^started \d+\n$/);
    const prev = await cli('logs', 'crash', '--previous');
    assert.equal(prev.code, 0, prev.stderr);
    assert.match(prev.stdout, /^started \d+\n$/);
    assert.notEqual(prev.stdout, logs.stdout);
  });

  it('restarts a container whose liveness probe fails', async () => {
    await client.pods.create(
      pod('liveness', 'node-3', [web({ livenessProbe: { httpGet: { port: 9999, path: '/healthz' }, periodSeconds: 1, failureThreshold: 2 } })]),
    );
    const p = await waitFor('liveness', 'restartCount >= 1', (x) => restarts(x) >= 1, 60_000);
    assert.ok(restarts(p) >= 1);
  });

  it('passes env from a ConfigMap and a Secret into the container', async () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: NS }, data: { GREETING: 'hello from a configmap', MODE: 'e2e' } };
    const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret', namespace: NS }, stringData: { password: 's3cr3t' } };
    await client.configMaps.create(cm);
    await client.secrets.create(secret);
    await client.pods.create(
      pod('env', 'node-1', [
        web({
          env: [
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'GREETING' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'password' } } },
            { name: 'MY_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          ],
          envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'app-config' } }],
          // Limits alone make the requests too: a Guaranteed pod (oom_score_adj -998 where the host allows it).
          resources: { limits: { cpu: '100m', memory: '32Mi' } },
        }),
      ]),
    );
    const p = await waitFor('env', 'Running', running);
    assert.equal(p.status?.qosClass, 'Guaranteed');
    const r = await cli('exec', 'env', '--', 'sh', '-c', 'echo "$GREETING|$PASSWORD|$CFG_MODE|$MY_POD_IP"');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `hello from a configmap|s3cr3t|e2e|${p.status?.podIP}`);
  });

  it('enforces a memory limit: the container is OOM-killed and reported OOMKilled', async () => {
    // busybox tail buffers a line that never ends: its memory grows until the limit.
    await client.pods.create(
      pod('oom', 'node-2', [{ name: 'hog', image: WEB, imagePullPolicy: 'Never', command: ['tail', '/dev/zero'], resources: { limits: { memory: '16Mi' } } }], { restartPolicy: 'Never' }),
    );
    const p = await waitFor('oom', 'terminated', (x) => x.status?.containerStatuses?.[0]?.state?.terminated !== undefined, 60_000);
    const t = p.status!.containerStatuses![0]!.state!.terminated!;
    assert.equal(t.reason, 'OOMKilled', JSON.stringify(t));
    assert.equal(p.status?.phase, 'Failed');
  });

  it('tug logs tails and follows a container log', async () => {
    await client.pods.create(pod('talker', 'node-3', [{ name: 'talk', image: WEB, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo line-1; echo line-2; echo line-3; exec sleep 3600'] }]));
    await waitFor('talker', 'Running', running);
    let all = '';
    for (let i = 0; i < 40 && !all.includes('line-3'); i++) {
      all = (await cli('logs', 'talker')).stdout;
      await sleep(100);
    }
    assert.equal(all, 'line-1\nline-2\nline-3\n');
    const tail = await cli('logs', 'talker', '--tail', '1');
    assert.equal(tail.stdout, 'line-3\n');
  });

  it('tug logs -f follows new lines as they are written', async () => {
    await client.pods.create(pod('ticker', 'node-1', [{ name: 'tick', image: WEB, imagePullPolicy: 'Never', command: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2; done'] }]));
    await waitFor('ticker', 'Running', running);
    const stop = new AbortController();
    const followed = await cliWith({ signal: stop.signal, onOutput: (all) => all.includes('tick-8\n') && stop.abort() }, 'logs', '-f', 'ticker');
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, /^tick-1\ntick-2\n(tick-\d+\n)*tick-8\n/);
  });

  it('mounts emptyDir, ConfigMap and Secret volumes', async () => {
    await client.pods.create(
      pod(
        'volumes',
        'node-3',
        [
          { name: 'writer', image: WEB, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo shared > /work/note; exec sleep 3600'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
          {
            name: 'reader',
            image: WEB,
            imagePullPolicy: 'Never',
            command: ['sleep', '3600'],
            volumeMounts: [
              { name: 'work', mountPath: '/work' },
              { name: 'config', mountPath: '/etc/app' },
              { name: 'secret', mountPath: '/etc/secret', readOnly: true },
            ],
          },
        ],
        {
          volumes: [
            { name: 'work', emptyDir: {} },
            { name: 'config', configMap: { name: 'app-config' } },
            { name: 'secret', secret: { secretName: 'app-secret' } },
          ],
        },
      ),
    );
    await waitFor('volumes', 'Running', running);
    const r = await cli('exec', 'volumes', '-c', 'reader', '--', 'sh', '-c', 'cat /work/note /etc/app/GREETING /etc/secret/password; echo; touch /etc/app/x 2>/dev/null || echo read-only');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'shared\nhello from a configmaps3cr3t\nread-only\n');
  });

  it('keeps running containers untouched when an agent is killed and restarted', async () => {
    const before = await client.pods.get(NS, 'web-2');
    const id = before.status?.containerStatuses?.[0]?.containerID ?? '';
    assert.ok(id !== '');
    await restartProcess(NAME, 'node-2', 'agent', { signal: 'SIGKILL' });
    // The new agent beats again (it renews the node's Lease), and the container is the same one.
    const beat = Date.now();
    for (;;) {
      const lease = await client.leases.get('tug-node-lease', 'node-2').catch(() => undefined);
      const hb = Date.parse(lease?.spec?.renewTime ?? '');
      if (hb > beat) break;
      assert.ok(Date.now() - beat < 30_000, 'the restarted agent heartbeats within 30 s');
      await sleep(250);
    }
    await sleep(2_000); // a few sync rounds of the new agent
    const now = await client.pods.get(NS, 'web-2');
    const c = now.status?.containerStatuses?.[0];
    assert.equal(c?.containerID, id, 'same container');
    assert.equal(c?.restartCount, 0);
    assert.ok(c?.state?.running !== undefined);
    const r = await cli('exec', 'web-1', '--', 'wget', '-qO-', `http://${ips.get('web-2')}:8080/`);
    assert.equal(r.stdout.trim(), 'web-2');
  });

  it('keeps pods running and serving while the whole control plane is down', async () => {
    const controls = info.nodes.filter((n) => n.control).map((n) => n.name);
    for (const n of controls) await killProcess(NAME, n, 'control', { signal: 'SIGKILL' });
    try {
      await sleep(3_000); // several agent heartbeats and sync rounds without an API
      // exec goes to the agent directly, but finds the pod through the API: ask the node's CRI.
      const node1 = info.nodes.find((n) => n.name === 'node-1')!;
      const cri = new CriClient(node1.containerdSocket);
      try {
        const [c] = await cri.listContainers({ labelSelector: { 'tugboat.io/pod-name': 'web-1', 'tugboat.io/container-name': 'web' }, state: { state: criApi.ContainerState.CONTAINER_RUNNING } });
        assert.ok(c !== undefined, 'web-1 still runs on node-1');
        const r = await cri.execSync(c.id, ['wget', '-qO-', `http://${ips.get('web-2')}:8080/`], 10);
        assert.equal(r.stdout.toString().trim(), 'web-2');
      } finally {
        cri.close();
      }
    } finally {
      for (const n of controls) startProcess(NAME, n, 'control');
    }
    const p = await waitFor('web-1', 'Running after the control plane is back', running, 60_000);
    assert.equal(restarts(p), 0);
  });

  it('deleting a pod removes its sandbox and containers, frees its IP, and its agent then deletes it for good', async () => {
    const p = await client.pods.get(NS, 'web-3');
    const ip = p.status?.podIP ?? '';
    const uid = p.metadata.uid ?? '';
    const node = info.nodes.find((n) => n.name === 'node-3')!;
    const ipamDir = join(info.baseDir, 'node-3', 'cni', 'data');
    const allocated = (): boolean => existsSync(ipamDir) && readdirSync(ipamDir, { recursive: true }).some((f) => String(f).endsWith(ip));
    assert.ok(allocated(), `host-local holds ${ip} before the delete (in ${ipamDir})`);
    const marked = await client.pods.delete(NS, 'web-3');
    assert.ok(marked?.metadata.deletionTimestamp, 'a pod on a node is marked (graceful deletion), not removed at once');
    const cri = new CriClient(node.containerdSocket);
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const sandboxes = await cri.listPodSandbox({ labelSelector: { 'tugboat.io/pod-uid': uid } });
        const containers = await cri.listContainers({ labelSelector: { 'tugboat.io/pod-uid': uid } });
        const stored = await client.pods.get(NS, 'web-3').then(
          (p) => p.metadata.uid === uid,
          (err: unknown) => (isNotFound(err) ? false : Promise.reject(err as Error)),
        );
        if (sandboxes.length === 0 && containers.length === 0 && !allocated() && !stored) break;
        assert.ok(
          Date.now() < deadline,
          `pod web-3 still has ${sandboxes.length} sandboxes, ${containers.length} containers, IP allocated: ${allocated()}, object stored: ${stored}`,
        );
        await sleep(250);
      }
    } finally {
      cri.close();
    }
  });

  it('tug cluster down leaves nothing behind', async () => {
    client.close();
    const r = await downCluster(NAME);
    downDone = true;
    assert.deepEqual(r.left, []);
    assert.deepEqual(leftovers(NAME), []);
  });
});
