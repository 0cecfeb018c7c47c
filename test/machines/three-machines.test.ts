// three-machines.test.ts: three Debian 12 machines booted with systemd (machines.ts), each
// provisioned by deploy/vagrant-provision.sh as the Vagrantfile provisions its VMs: node1
// founds the cluster, node2 and node3 join with the token it leaves in the shared folder. Then,
// from this host: tug reaches the cluster through the context the Vagrantfile's trigger writes,
// a Deployment behind a NodePort Service answers on every machine's address, a machine powered
// off has its pods replaced on the others within POD_MOVE_BOUND_MS, started again it is Ready
// again, and a second provision run on every machine changes nothing. Everything is removed at
// the end, and first what a killed earlier run left (TUG_MACHINES_KEEP=1 leaves them running,
// to look into a failure: enter one with nsenter -t PID -m -u -i -n -p -C).
//
//   npm run test:machines
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCaptured } from '@tugboat/cli';
import { CACHE_DIR, Machine, cleanUp, ensureRootfs, makeNetwork } from './machines.ts';
import type { RunResult } from './machines.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
/** How soon the pods of a machine that was powered off run on the others (docs/vagrant.md). */
const POD_MOVE_BOUND_MS = 30_000;
const log = (line: string): void => {
  process.stderr.write(`# ${line}\n`);
};

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

describe('three machines provisioned as the Vagrantfile provisions them', () => {
  const machines: Machine[] = [];
  let shared: string;
  let home: string;
  let config: string;
  const provisionEnv = { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' };

  const tug = async (...args: string[]) => {
    const r = await runCaptured(['--config', config, '--context', 'vagrant', ...args], { env: {}, homedir: home });
    return r;
  };
  /** provision runs the Vagrantfile's provisioner in m, and logs what it printed. */
  const provision = async (m: Machine): Promise<RunResult> => {
    const r = await m.run(`bash /vagrant/deploy/vagrant-provision.sh ${m.name} ${m.address} ${machines[0]!.address} /tug-shared`, { env: provisionEnv, timeoutMs: 900_000 });
    for (const line of r.stdout.split('\n').filter((l) => l !== '')) log(`${m.name}: ${line}`);
    return r;
  };
  const shown = (r: RunResult): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
  const webPods = async (): Promise<PodJson[]> => {
    const r = await tug('get', 'pods', '-l', 'app=web', '-o', 'json');
    if (r.code !== 0) return [];
    return (JSON.parse(r.stdout) as { items: PodJson[] }).items;
  };
  const ready = (p: PodJson): boolean => p.metadata.deletionTimestamp === undefined && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const until = async (what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> => {
    const start = Date.now();
    while (!(await check())) {
      if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    return Date.now() - start;
  };

  before(async () => {
    await cleanUp(log);
    const rootfs = ensureRootfs(log);
    shared = mkdtempSync(join(tmpdir(), 'tug-machines-shared-'));
    home = mkdtempSync(join(tmpdir(), 'tug-machines-home-'));
    config = join(home, 'config');
    makeNetwork();
    // The checkout read-only where Vagrant syncs it, the folder the token passes through, and
    // download caches kept between runs: npm's, and apt's packages (one per machine: apt locks it).
    const binds = [`${repo.replace(/\/$/, '')}:/vagrant:ro`, `${shared}:/tug-shared`, `${join(CACHE_DIR, 'npm')}:/root/.npm`];
    for (let i = 1; i <= 3; i++) {
      const apt = join(CACHE_DIR, 'apt', `node${i}`);
      mkdirSync(join(apt, 'partial'), { recursive: true });
      mkdirSync(join(CACHE_DIR, 'npm'), { recursive: true });
      machines.push(Machine.create(rootfs, i, [...binds, `${apt}:/var/cache/apt/archives`]));
    }
    const t = Date.now();
    await Promise.all(machines.map((m) => m.boot()));
    log(`3 machines booted to running in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    for (const m of machines) {
      const r = await m.run('update-ca-certificates >/dev/null');
      assert.equal(r.code, 0, shown(r));
    }
  });

  after(async () => {
    if (process.env['TUG_MACHINES_KEEP'] === '1') {
      log('TUG_MACHINES_KEEP=1: the machines are left running for inspection; the next run removes them');
      return;
    }
    await cleanUp(log);
    rmSync(shared, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('node1 founds the cluster; node2 and node3 join with its token', async () => {
    let t = Date.now();
    const first = await provision(machines[0]!);
    assert.equal(first.code, 0, shown(first));
    log(`node1 provisioned in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const rest = await Promise.all(machines.slice(1).map((m) => provision(m)));
    for (const r of rest) assert.equal(r.code, 0, shown(r));
    log(`node2 and node3 provisioned in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    // What the Vagrantfile's trigger runs on the host.
    const endpoints = machines.map((m) => `${m.address}:7400`).join(',');
    let r = await runCaptured(['--config', config, 'config', 'set-context', 'vagrant', '--endpoints', endpoints], { env: {}, homedir: home });
    assert.equal(r.code, 0, r.stderr);
    r = await runCaptured(
      ['--config', config, 'config', 'set-credentials', 'vagrant', '--certificate-authority', join(shared, 'ca.crt'), '--client-certificate', join(shared, 'admin.crt'), '--client-key', join(shared, 'admin.key')],
      { env: {}, homedir: home },
    );
    assert.equal(r.code, 0, r.stderr);
    await until('3 Ready nodes', 120_000, async () => {
      const nodes = await tug('get', 'nodes');
      return nodes.code === 0 && (nodes.stdout.match(/ Ready /g) ?? []).length === 3;
    });
    const members = await tug('cluster', 'status');
    assert.equal(members.code, 0, members.stderr);
    for (const m of machines) assert.match(members.stdout, new RegExp(`\\b${m.name}\\b`));
  });

  it('a Deployment behind a NodePort Service answers from this host on every machine address', async () => {
    const r = await tug('apply', '-f', join(repo, 'examples/web-deployment.yaml'));
    assert.equal(r.code, 0, r.stderr);
    await until('3 Ready web pods', 180_000, async () => (await webPods()).filter(ready).length === 3);
    for (const m of machines) {
      const res = await fetch(`http://${m.address}:30080/`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(res.status, 200, `${m.address}:30080`);
      assert.match(await res.text(), /web-/);
    }
  });

  it(`a machine powered off has its pods replaced on the others within ${POD_MOVE_BOUND_MS / 1000} s, and is Ready again when started`, async () => {
    const victim = machines[2]!;
    const t = Date.now();
    await victim.poweroff();
    const moved = await until(`web pods off ${victim.name}`, POD_MOVE_BOUND_MS, async () => {
      const pods = (await webPods()).filter(ready);
      return pods.length === 3 && pods.every((p) => p.spec.nodeName !== victim.name);
    });
    log(`${victim.name} powered off: its pods ran elsewhere ${((Date.now() - t) / 1000).toFixed(1)} s later (${(moved / 1000).toFixed(1)} s after it was off)`);
    const res = await fetch(`http://${machines[0]!.address}:30080/`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(res.status, 200);

    await victim.boot();
    const back = await until(`${victim.name} Ready again`, 120_000, async () => {
      const nodes = await tug('get', 'nodes');
      return nodes.code === 0 && new RegExp(`^${victim.name} +Ready `, 'm').test(nodes.stdout);
    });
    log(`${victim.name} Ready ${(back / 1000).toFixed(1)} s after it booted`);
  });

  it('a second provision run changes nothing', async () => {
    for (const m of machines) {
      const r = await provision(m);
      assert.equal(r.code, 0, shown(r));
      assert.doesNotMatch(r.stdout, /\b(wrote|restarting|starting|installing|copying)\b/, `${m.name}:\n${r.stdout}`);
    }
  });
});
