// api-services.test.ts: Service addresses through three tug-control processes on 127.0.0.1-3.
// ClusterIPs and nodePorts are allocated without collision, also by concurrent creates through
// every member and across a leader SIGKILL; requested ones are refused clearly when taken, out
// of range or reserved, and nothing is written then; an update keeps what it leaves out and
// refuses a changed clusterIP naming the field; a delete, a type change and a Namespace
// deletion free what was held, so another Service can take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, ServiceSpec } from '@tugboat/api';
import { isInvalid, isNotFound } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';
import { TugCluster } from '../support/tug-cluster.ts';
import { runPool } from './api-helpers.ts';

function svc(name: string, spec: Partial<ServiceSpec> = {}, namespace = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } };
}

async function invalidMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isInvalid(err), `expected Invalid, got ${(err as Error).message}`);
    return (err as Error).message;
  }
  assert.fail('the write was accepted');
}

async function absent(client: TugClient, namespace: string, name: string): Promise<void> {
  await assert.rejects(client.services.get(namespace, name), (err: unknown) => isNotFound(err));
}

test('Service ClusterIPs and nodePorts: allocated once, checked when requested, kept on update, freed on delete', { timeout: 120_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 3 });
  t.after(() => cluster.stop());
  const client = cluster.client({ retryBudgetMs: 20_000 });
  await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });

  await t.test('allocated from 10.96.0.0/16, and refused clearly when requested and taken, out of range or reserved', async () => {
    const web = await client.services.create(svc('web', { type: 'NodePort' }));
    assert.match(web.spec.clusterIP ?? '', /^10\.96\.\d+\.\d+$/);
    assert.deepEqual(web.spec.clusterIPs, [web.spec.clusterIP]);
    const nodePort = web.spec.ports?.[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);

    const sameIP = await invalidMessage(client.services.create(svc('copy', { clusterIP: web.spec.clusterIP ?? '' }, 'other')));
    assert.match(sameIP, new RegExp(`spec\\.clusterIP: invalid value "${web.spec.clusterIP?.replaceAll('.', '\\.')}": provided IP is already allocated`));
    const samePort = await invalidMessage(client.services.create(svc('copy', { type: 'NodePort', ports: [{ port: 80, nodePort }] }, 'other')));
    assert.match(samePort, new RegExp(`spec\\.ports\\[0\\]\\.nodePort: invalid value ${nodePort}: provided port is already allocated`));
    assert.match(await invalidMessage(client.services.create(svc('copy', { clusterIP: '10.0.0.1' }, 'other'))), /the range of valid IPs is 10\.96\.0\.0\/16/);
    assert.match(await invalidMessage(client.services.create(svc('copy', { clusterIP: '10.96.0.10' }, 'other'))), /reserved for the cluster DNS/);
    assert.match(await invalidMessage(client.services.create(svc('copy', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }, 'other'))), /must be between 30000 and 32767/);
    await absent(client, 'other', 'copy');

    const requested = await client.services.create(svc('fixed', { clusterIP: '10.96.7.7', type: 'LoadBalancer', ports: [{ port: 80, nodePort: 31234 }] }, 'other'));
    assert.equal(requested.spec.clusterIP, '10.96.7.7');
    assert.equal(requested.spec.ports?.[0]?.nodePort, 31234);
    const headless = await client.services.create(svc('peers', { clusterIP: 'None' }));
    assert.equal(headless.spec.clusterIP, 'None');
  });

  await t.test('an update keeps the addresses it leaves out and refuses a changed clusterIP, naming the field', async () => {
    const web = await client.services.get('default', 'web');
    const again = svc('web', { type: 'NodePort', ports: [{ port: 80 }, { name: 'alt', port: 8080 }] });
    again.spec.ports![0]!.name = 'http';
    const updated = await client.services.update(again);
    assert.equal(updated.spec.clusterIP, web.spec.clusterIP);
    assert.equal(updated.spec.ports?.[0]?.nodePort, web.spec.ports?.[0]?.nodePort, 'the nodePort of port 80 is kept');
    assert.ok((updated.spec.ports?.[1]?.nodePort ?? 0) >= 30000, 'the new port gets its own');
    const moved = await invalidMessage(client.services.update({ ...structuredClone(updated), spec: { ...structuredClone(updated.spec), clusterIP: '10.96.9.9', clusterIPs: ['10.96.9.9'] } }));
    assert.match(moved, /spec\.clusterIP: field is immutable once set/);
    assert.equal((await client.services.get('default', 'web')).spec.clusterIP, web.spec.clusterIP);
  });

  await t.test('a type change, a delete and a Namespace deletion free what was held', async () => {
    const web = await client.services.get('default', 'web');
    const port80 = web.spec.ports?.[0]?.nodePort ?? 0;
    await client.services.update({ ...structuredClone(web), spec: { ...structuredClone(web.spec), type: 'ClusterIP', ports: web.spec.ports!.map(({ nodePort: _n, ...p }) => p) } });
    const taker = await client.services.create(svc('taker', { type: 'NodePort', ports: [{ port: 80, nodePort: port80 }] }, 'other'));
    assert.equal(taker.spec.ports?.[0]?.nodePort, port80);

    await client.services.delete('default', 'web');
    const reuse = await client.services.create(svc('reuse', { clusterIP: web.spec.clusterIP ?? '' }, 'other'));
    assert.equal(reuse.spec.clusterIP, web.spec.clusterIP);

    await client.namespaces.delete('other');
    let recreated: Service | undefined;
    const deadline = Date.now() + 10_000;
    while (recreated === undefined) {
      try {
        recreated = await client.services.create(svc('again', { clusterIP: '10.96.7.7', type: 'NodePort', ports: [{ port: 80, nodePort: 31234 }] }));
      } catch (err) {
        // The Namespace's Services are gone at once; their allocations within a housekeeping round.
        if (!isInvalid(err) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(recreated.spec.clusterIP, '10.96.7.7');
    await client.services.delete('default', 'again');
  });

  await t.test('120 concurrent creates through every member, with the leader killed midway: all addresses distinct', async () => {
    const leader = await cluster.leader();
    const created: Service[] = [];
    let chaos: Promise<void> = Promise.resolve();
    await runPool(120, 16, async (i) => {
      if (i === 40) chaos = cluster.kill(leader.name);
      const s = await client.services.create(svc(`s${i}`, { type: i % 2 === 0 ? 'NodePort' : 'ClusterIP' }), { requestId: `svc-create-${i}` });
      created.push(s);
    });
    await chaos;
    await cluster.restart(leader.name);
    const listed = (await client.services.list({ namespace: 'default' })).items.filter((s) => /^s\d+$/.test(s.metadata.name ?? ''));
    assert.equal(listed.length, 120);
    const ips = listed.map((s) => s.spec.clusterIP);
    assert.equal(new Set(ips).size, 120, 'every ClusterIP once');
    const ports = listed.flatMap((s) => (s.spec.ports ?? []).map((p) => p.nodePort).filter((p) => p !== undefined));
    assert.equal(ports.length, 60);
    assert.equal(new Set(ports).size, 60, 'every nodePort once');
    for (const s of created) assert.equal(listed.find((l) => l.metadata.name === s.metadata.name)?.spec.clusterIP, s.spec.clusterIP, 'as acknowledged');
    await cluster.sameObjects();
  });
});
