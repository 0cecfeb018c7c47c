// api-tls.test.ts: a real tug-control serves only clients with a certificate of its cluster CA.
// A client without one, with one of another CA or with an expired one is refused with
// UNAUTHENTICATED and the member logs the refusals with the client's address; a member given a
// certificate of another CA does not start, and names the file. What a certificate may do
// follows its role: a node's agent reads the Secret of a pod bound to it and not another
// node's, through a follower as well as the leader, and may not cordon its own Node; a viewer
// reads but does not write.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TugClient, isAlreadyExists, isApiError } from '@tugboat/client';
import { issueCertificate, makeCa, writeKeyPair } from '@tugboat/pki';
import { ObjectService, Status, createClient, credentials, isGrpcError } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { TugCluster } from '../support/tug-cluster.ts';

const DAY_MS = 86_400_000;

describe('tug-control with mutual TLS', () => {
  let cluster: TugCluster;
  before(async () => {
    cluster = await TugCluster.start({ size: 3, dirPrefix: 'tug-api-tls-' });
  });
  after(async () => {
    await cluster?.stop();
  });

  /** refusal lists namespaces with security and returns how the call was refused. */
  const refusal = async (security: Security): Promise<{ code: number; message: string }> => {
    const client = new TugClient({ endpoints: cluster.endpoints(), security, retryBudgetMs: 3_000, unreachableRoundsMax: 1 });
    try {
      await client.namespaces.list();
      return { code: Status.OK, message: 'served' };
    } catch (err) {
      assert.ok(isApiError(err), `an API error, got ${String(err)}`);
      return { code: err.code, message: err.message };
    } finally {
      client.close();
    }
  };

  it('serves a client with a certificate of the cluster CA', async () => {
    const items = await cluster.client().namespaces.list();
    assert.ok(items.items.some((n) => n.metadata.name === 'default'));
  });

  it('refuses a client without a certificate, with one of another CA, or with an expired one, and logs them', async () => {
    const pki = cluster.pki!;
    const address = cluster.endpoints()[0]!;
    const anonymous = createClient(ObjectService, address, {
      credentials: credentials.createSsl(readFileSync(pki.caFile), null, null, { checkServerIdentity: () => undefined }),
      channelOptions: { 'grpc.ssl_target_name_override': 'tugboat' },
    });
    try {
      await assert.rejects(anonymous.list({ kind: 'Namespace' }), (err: unknown) => isGrpcError(err) && err.code === Status.UNAUTHENTICATED && /no client certificate signed by the cluster CA/.test(err.message));
    } finally {
      anonymous.close();
    }
    const other = await makeCa('other');
    const foreign = await issueCertificate(other, { role: 'admin', commonName: 'admin' });
    const ofOtherCa: Security = { tls: { ca: readFileSync(pki.caFile), cert: Buffer.from(foreign.certPem), key: Buffer.from(foreign.keyPem) } };
    const expired = await pki.clientSecurity({ validDays: 1, now: new Date(Date.now() - 3 * DAY_MS) });
    for (const security of [ofOtherCa, expired]) {
      const r = await refusal(security);
      assert.equal(r.code, Status.UNAUTHENTICATED, r.message);
      assert.match(r.message, /no client certificate signed by the cluster CA and valid now/);
    }
    assert.match(cluster.members.map((m) => cluster.logTail(m.name, 400)).join('\n'), /"peer":"127\.0\.0\.1:\d+".*"msg":"api: call refused: no client certificate of the cluster"/);
  });

  it("a node's agent reads its pods' Secret and not another node's; a viewer reads but does not write", async () => {
    const admin = cluster.client();
    await admin.secrets.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, stringData: { password: 'p' } });
    await admin.pods.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 's', secret: { secretName: 'db' } }] },
    });
    const pki = cluster.pki!;
    const as = async (role: 'agent' | 'viewer', name: string): Promise<TugClient> => cluster.client({ security: await pki.clientSecurity({ role, commonName: name }), retryBudgetMs: 3_000 });
    const nodeA = await as('agent', 'node-a');
    assert.equal((await nodeA.secrets.get('default', 'db')).metadata.name, 'db');
    // Each member decides for the calls it receives; a follower passes the write on as itself.
    const agentA = await pki.clientSecurity({ role: 'agent', commonName: 'node-a' });
    for (const m of cluster.members) {
      const viaMember = cluster.client({ endpoints: [m.apiAddress], security: agentA, retryBudgetMs: 5_000 });
      const app = await viaMember.pods.get('default', 'app');
      await viaMember.pods.updateStatus({ ...app, status: { phase: 'Pending', message: `via ${m.name}` } });
    }
    const nodeB = await as('agent', 'node-b');
    await assert.rejects(
      nodeB.secrets.get('default', 'db'),
      (err: unknown) => isApiError(err) && err.code === Status.PERMISSION_DENIED && err.reason === 'Forbidden' && err.message.includes('node "node-b" (tugboat:nodes) may not get secrets default/db: no pod bound to node-b uses it'),
    );
    await assert.rejects(nodeB.pods.list({ namespace: 'default' }), (err: unknown) => isApiError(err) && err.code === Status.PERMISSION_DENIED && /select spec\.nodeName=node-b/.test(err.message));
    // Its own Node, but not what others decide about it (NodeRestriction).
    await nodeA.nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { zone: 'a' } } });
    // A restarted agent registers again: its create is refused as existing, not as a change.
    await assert.rejects(nodeA.nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } }), (err: unknown) => isAlreadyExists(err));
    const current = await nodeA.nodes.get('node-a');
    await assert.rejects(
      nodeA.nodes.update({ ...current, spec: { ...current.spec, unschedulable: true } }),
      (err: unknown) => isApiError(err) && err.code === Status.PERMISSION_DENIED && /node "node-a" \(tugboat:nodes\) may not update nodes node-a: a node may not cordon or uncordon itself/.test(err.message),
    );
    const viewer = await as('viewer', 'ann');
    assert.ok((await viewer.pods.list({ namespace: 'default' })).items.length >= 1);
    await assert.rejects(viewer.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }), (err: unknown) => isApiError(err) && err.code === Status.PERMISSION_DENIED && /viewer "ann" \(tugboat:viewers\) may not create configmaps default\/x: viewers only read/.test(err.message));
  });

  it('a member given a certificate of another CA does not start, and names the file', async () => {
    const other = await makeCa('other');
    const files = writeKeyPair(join(cluster.dir, 'foreign'), 'c9', await issueCertificate(other, { role: 'member', commonName: 'c9', ipAddresses: ['127.0.0.1'] }));
    const main = fileURLToPath(new URL('../../apps/control/src/main.ts', import.meta.url));
    const r = spawnSync(
      process.execPath,
      [main, '--name', 'c9', '--data-dir', join(cluster.dir, 'c9'), '--join', cluster.endpoints()[0]!, '--ca-file', cluster.pki!.caFile, '--cert-file', files.certFile, '--key-file', files.keyFile],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`tug-control: certificate ${files.certFile}: not signed by the CA`));
  });
});
