// local-cluster.test.ts: `tug cluster up` and `down` for real (root): a 2-node cluster with one
// control node under a name of its own (t<pid>): its network namespaces reach each other over
// the bridge, every containerd answers CRI with the offline images loaded, tug-control is
// healthy and tug-control and tug-agent run as the bundles `up` made of this checkout,
// `tug get nodes` lists both nodes; a second `up` is refused;
// `down` leaves nothing behind and a second `down` finds nothing. Skipped when not root or when
// containerd, runc or the CNI plugins are missing (deploy/setup.sh installs them).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCaptured } from '@tugboat/cli';
import { TugClient } from '@tugboat/client';
import { CriClient } from '@tugboat/cri';
import { adminSecurity, checkHost, downCluster, leftovers, loadImage, PROGRAM_FILES, programsDir, upCluster } from '@tugboat/localcluster';
import type { ClusterInfo } from '@tugboat/localcluster';
import { localClusterFlags } from '../support/local-cluster-cli.ts';

function skipReason(): string | undefined {
  try {
    checkHost();
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

const skip = skipReason();
const name = `t${process.pid % 10000}`;

const tug = (args: string[]) => runCaptured(args);

describe('local cluster', { skip, timeout: 300_000 }, () => {
  let info: ClusterInfo | undefined;

  before(async () => {
    info = await upCluster({ name, nodes: 2, control: 1, timeoutMs: 90_000 });
  });

  after(async () => {
    // Whatever happened above, nothing of the cluster may stay on the machine.
    const r = await downCluster(name);
    assert.deepEqual(r.left, []);
  });

  it('makes a network namespace per node, reachable over the bridge', () => {
    assert.ok(info !== undefined);
    assert.equal(info.nodes.length, 2);
    for (const n of info.nodes) {
      assert.ok(existsSync(`/run/netns/${n.netns}`), n.netns);
      // From node-1's namespace every node's address answers (a TCP-free check: the kernel's ARP/ICMP).
      const r: SpawnSyncReturns<string> = spawnSync('nsenter', [`--net=/run/netns/${info.nodes[0]!.netns}`, '--', 'busybox', 'ping', '-c', '1', '-W', '2', n.ip], { encoding: 'utf8' });
      assert.equal(r.status, 0, `ping ${n.ip} from node-1: ${r.stdout}${r.stderr}`);
    }
  });

  it('runs a containerd per node, with the offline images loaded', async () => {
    assert.ok(info !== undefined);
    for (const n of info.nodes) {
      const cri = new CriClient(n.containerdSocket, { timeoutMs: 10_000 });
      try {
        assert.equal((await cri.version()).runtimeName, 'containerd');
        const tags = (await cri.listImages()).flatMap((i) => i.repoTags);
        assert.ok(tags.includes('tugboat.local/pause:latest') && tags.includes('tugboat.local/web:latest'), `${n.name}: ${tags.join(', ')}`);
      } finally {
        cri.close();
      }
    }
    assert.deepEqual(await loadImage('/var/lib/tugboat/images/web.tar', name), ['node-1', 'node-2']);
  });

  it('serves the API from the control node', async () => {
    assert.ok(info !== undefined);
    assert.deepEqual(info.endpoints, [info.nodes[0]!.apiAddress]);
    const client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir) });
    try {
      const h = await client.health();
      assert.equal(h.ready, true);
      assert.equal(h.name, 'node-1');
    } finally {
      client.close();
    }
    const st = await tug([...localClusterFlags(info), 'cluster', 'status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /node-1 +\S+:7400 +leader/);
  });

  it('runs tug-control and tug-agent from the bundles in the cluster\'s dir', () => {
    assert.ok(info !== undefined);
    const bin = programsDir(info.baseDir);
    const running: string[] = [];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue; // gone
      }
      const program = argv.find((a) => a.startsWith(`${bin}/`));
      const node = argv[argv.indexOf(program === join(bin, PROGRAM_FILES.agent) ? '--node-name' : '--name') + 1];
      if (program !== undefined) running.push(`${node ?? '?'} ${program}`);
    }
    assert.deepEqual(running.sort(), [
      `node-1 ${join(bin, PROGRAM_FILES.agent)}`,
      `node-1 ${join(bin, PROGRAM_FILES.control)}`,
      `node-2 ${join(bin, PROGRAM_FILES.agent)}`,
    ]);
  });

  it('lists every node in `tug get nodes`', async () => {
    assert.ok(info !== undefined);
    for (const n of info.nodes) assert.match(n.podCIDR ?? '', /^10\.244\.\d+\.0\/24$/, n.name);
    const r = await tug([...localClusterFlags(info), 'get', 'nodes']);
    assert.equal(r.code, 0, r.stderr);
    for (const n of info.nodes) assert.match(r.stdout, new RegExp(`^${n.name} +Ready`, 'm'));
  });

  it('refuses a second up of the same name', async () => {
    await assert.rejects(upCluster({ name, nodes: 2, control: 1, agents: false }), (err: Error) => {
      assert.equal(err.name, 'ClusterExistsError');
      assert.match(err.message, new RegExp(`tug cluster down --name ${name}`));
      return true;
    });
  });

  it('down removes everything, and a second down finds nothing', async () => {
    const first = await downCluster(name);
    assert.ok(first.removed.some((l) => l.startsWith('stopped control on node-1')), first.removed.join('\n'));
    assert.deepEqual(first.left, []);
    assert.deepEqual(leftovers(name), []);
    const second = await downCluster(name);
    assert.deepEqual(second.removed, []);
    assert.deepEqual(second.left, []);
  });
});
