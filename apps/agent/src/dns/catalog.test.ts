// catalog.test.ts: informerCatalog over real informers of a TugClient talking to the fake API
// (@tugboat/apiserver/testing), so the indexes are checked against the events a watch really
// delivers; staticCatalog for the fixed case.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoints, Service } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { clusterIPsOf, informerCatalog, staticCatalog } from './catalog.ts';
import type { DnsCatalog } from './catalog.ts';

function service(namespace: string, name: string, clusterIP: string): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec: { clusterIP, ports: [{ name: 'http', port: 80 }] } };
}

function endpoints(namespace: string, name: string, ips: string[]): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace, name }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'http', port: 8080 }] }] };
}

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const nameByIP = (c: DnsCatalog, ip: string): string | undefined => {
  const s = c.serviceByClusterIP(ip);
  return s === undefined ? undefined : `${s.metadata.namespace}/${s.metadata.name}`;
};

describe('informerCatalog', () => {
  let api: TestApi;
  let server: TestApiServer;
  let client: TugClient;
  let services: Informer<Service>;
  let eps: Informer<Endpoints>;
  let catalog: (DnsCatalog & { close(): void }) | undefined;

  beforeEach(async () => {
    api = new TestApi();
    server = await TestApiServer.start(api);
    client = new TugClient({ endpoints: [server.address], backoffMs: 5, backoffMsMax: 50 });
    await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    services = client.services.informer();
    eps = client.endpoints.informer();
  });
  afterEach(async () => {
    catalog?.close();
    catalog = undefined;
    await services.stop();
    await eps.stop();
    client.close();
    await server.stop();
  });

  test('made after the informers synced, it indexes what their caches already hold', async () => {
    await client.services.create(service('default', 'web', '10.96.3.7'));
    await client.endpoints.create(endpoints('default', 'web', ['10.244.1.5']));
    services.start();
    eps.start();
    await Promise.all([services.waitForSync(), eps.waitForSync()]);
    catalog = informerCatalog(services, eps);
    assert.equal(catalog.service('default', 'web')?.spec.clusterIP, '10.96.3.7');
    assert.equal(catalog.endpoints('default', 'web')?.subsets?.[0]?.addresses?.[0]?.ip, '10.244.1.5');
    assert.equal(nameByIP(catalog, '10.96.3.7'), 'default/web');
    assert.equal(catalog.hasNamespace('default'), true);
    assert.equal(catalog.hasNamespace('shop'), false);
    assert.equal(catalog.service('default', 'nope'), undefined);
  });

  test('follows services as they come, change and go: by name, by ClusterIP, namespaces', async () => {
    catalog = informerCatalog(services, eps);
    services.start();
    eps.start();
    await Promise.all([services.waitForSync(), eps.waitForSync()]);
    const c = catalog;

    await client.services.create(service('shop', 'web', '10.96.3.7'));
    await client.services.create(service('shop', 'db', 'None'));
    await client.endpoints.create(endpoints('shop', 'db', ['10.244.1.9']));
    await until('shop/web indexed', () => nameByIP(c, '10.96.3.7') === 'shop/web');
    await until('shop/db endpoints', () => c.endpoints('shop', 'db') !== undefined);
    assert.equal(c.hasNamespace('shop'), true);
    assert.equal(c.serviceByClusterIP('None'), undefined, 'a headless service has no ClusterIP');

    await client.services.delete('shop', 'web');
    await until('shop/web gone from the index', () => c.serviceByClusterIP('10.96.3.7') === undefined);
    assert.equal(c.hasNamespace('shop'), true, 'shop/db is left');

    await client.services.create(service('shop', 'web', '10.96.3.8'));
    await until('shop/web back under its new address', () => nameByIP(c, '10.96.3.8') === 'shop/web');
    assert.equal(c.serviceByClusterIP('10.96.3.7'), undefined);

    await client.services.delete('shop', 'web');
    await client.services.delete('shop', 'db');
    await until('the namespace empty', () => !c.hasNamespace('shop'));
    assert.equal(c.serviceByClusterIP('10.96.3.8'), undefined);
  });

  test('after close, the index is no longer kept', async () => {
    services.start();
    eps.start();
    await Promise.all([services.waitForSync(), eps.waitForSync()]);
    const c = informerCatalog(services, eps);
    c.close();
    await client.services.create(service('shop', 'web', '10.96.3.7'));
    await until('the informer to have it', () => services.getByName('shop', 'web') !== undefined);
    assert.equal(c.serviceByClusterIP('10.96.3.7'), undefined);
    assert.equal(c.hasNamespace('shop'), false);
  });
});

describe('staticCatalog', () => {
  test('answers from fixed objects', () => {
    const c = staticCatalog([service('shop', 'web', '10.96.3.7'), service('shop', 'db', 'None')], [endpoints('shop', 'db', ['10.244.1.9'])]);
    assert.equal(nameByIP(c, '10.96.3.7'), 'shop/web');
    assert.equal(c.endpoints('shop', 'db')?.subsets?.[0]?.addresses?.[0]?.ip, '10.244.1.9');
    assert.equal(c.hasNamespace('shop'), true);
    assert.equal(c.hasNamespace('default'), false);
  });

  test('clusterIPsOf lists each ClusterIP once and none for a headless service', () => {
    assert.deepEqual(clusterIPsOf({ ...service('a', 'b', '10.96.0.5'), spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5', 'fd00::5'] } }), ['10.96.0.5', 'fd00::5']);
    assert.deepEqual(clusterIPsOf(service('a', 'b', 'None')), []);
  });
});
