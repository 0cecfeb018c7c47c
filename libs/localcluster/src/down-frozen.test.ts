// down-frozen.test.ts: `down` removes a cluster one of whose containers is frozen (root, real
// containerd). A one-node cluster runs a web pod; the test writes FROZEN to the web
// container's freezer.state, as a runc or shim killed while it signals the container leaves
// it, and downCluster must thaw it, kill its processes and leave nothing behind. Skipped when
// not root, without the v1 freezer hierarchy, or when the host cannot run a cluster.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pod } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { downCluster } from './down.ts';
import { cgroupTree, checkHost } from './host.ts';
import { leftovers } from './leftovers.ts';
import { clusterNames } from './plan.ts';
import { adminSecurity } from './pki.ts';
import { upCluster } from './up.ts';

const FREEZER = '/sys/fs/cgroup/freezer';
const NAME = `fz${process.pid % 10000}`;
const cgroupRoot = join(FREEZER, clusterNames(NAME).cgroupDir);

function skipReason(): string | undefined {
  try {
    checkHost();
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
  return existsSync(FREEZER) ? undefined : `no cgroup v1 freezer hierarchy at ${FREEZER}`;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** httpdCgroup is the freezer cgroup of the cluster that holds an httpd process, if any. */
function httpdCgroup(): string | undefined {
  return cgroupTree(cgroupRoot).find((c) =>
    read(join(c, 'cgroup.procs'))
      .split('\n')
      .some((pid) => pid !== '' && read(`/proc/${pid}/comm`) === 'httpd'),
  );
}

const web: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default' },
  spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'tugboat.local/web:latest', imagePullPolicy: 'Never' }] },
};

describe('down of a cluster with a frozen container', { skip: skipReason(), timeout: 180_000 }, () => {
  after(async () => {
    // Should the code under test not thaw, thaw by hand (parents first) so the machine is clean.
    for (const c of cgroupTree(cgroupRoot).reverse()) {
      if (existsSync(join(c, 'freezer.state'))) writeFileSync(join(c, 'freezer.state'), 'THAWED');
    }
    await downCluster(NAME);
  });

  it('thaws the frozen cgroup, kills its processes and leaves nothing', async () => {
    await downCluster(NAME); // a crashed earlier run of this name
    const info = await upCluster({ name: NAME, nodes: 1, control: 1, timeoutMs: 60_000 });
    const client = new TugClient({ endpoints: info.endpoints, security: adminSecurity(info.baseDir) });
    let cgroup: string | undefined;
    try {
      await client.pods.create(web);
      const deadline = Date.now() + 60_000;
      while ((cgroup = httpdCgroup()) === undefined && Date.now() < deadline) await sleep(100);
      if (cgroup === undefined) assert.fail(`no httpd in ${cgroupRoot} within 60 s; pod status: ${JSON.stringify((await client.pods.get('default', 'web')).status)}`);
    } finally {
      client.close();
    }

    const state = join(cgroup, 'freezer.state');
    writeFileSync(state, 'FROZEN');
    for (let i = 0; i < 50 && read(state) !== 'FROZEN'; i++) await sleep(20); // FREEZING first
    assert.equal(read(state), 'FROZEN');

    const r = await downCluster(NAME);
    assert.deepEqual(r.left, []);
    assert.deepEqual(leftovers(NAME), []);
    assert.ok(r.removed.includes(`thawed cgroup ${cgroup} (was FROZEN)`), r.removed.join('\n'));
    assert.ok(r.summary.thawedCgroups >= 1);
    assert.ok(r.summary.containerProcesses >= 2, `web's sh and httpd killed: ${r.removed.join('\n')}`);
  });
});
