// join.test.ts: nodes join a real 3-member cluster with bootstrap tokens. A token made by an
// admin signs a node's certificate request through any member (a follower passes the join to
// the leader) once the joiner has checked the CA against the hash it was given; a wrong hash,
// a wrong secret, a used-up single-use token, a deleted one, and an agent token asking for a
// member certificate are each refused with the reason; the token's secret is in no log. A
// certificate is renewed for its own identity only. An API token calls as its user and role
// without a certificate until revoked. A new tug-control started with a member token and no
// certificate joins the cluster, and restarts on the files it wrote; so does an installed host's
// `tug host configure --join`, with one use of the token for both its certificates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCaptured } from '@tugboat/cli';
import { JoinError, TugClient, isApiError, joinCluster } from '@tugboat/client';
import { certificateInfo, makeSigningRequest } from '@tugboat/pki';
import type { Security } from '@tugboat/proto';
import { TugCluster } from '../support/tug-cluster.ts';

describe('joining with bootstrap tokens', () => {
  let cluster: TugCluster;
  before(async () => {
    cluster = await TugCluster.start({ size: 3, dirPrefix: 'tug-join-' });
  });
  after(async () => {
    await cluster?.stop();
  });

  const agentIdentity = (name: string, ip: string) => ({ role: 'agent' as const, commonName: name, ipAddresses: [ip] });
  const securityOf = (caPem: string, pair: { certPem: string; keyPem: string }): Security => ({
    tls: { ca: Buffer.from(caPem), cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) },
  });

  it('signs an agent certificate through every member, once for a single-use token, and refuses with reasons', async () => {
    const admin = cluster.client();
    const made = await admin.cluster.createToken({ ttlSeconds: 600, role: 'agent', description: 'node-j1', maxUses: 1 });
    assert.match(made.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    assert.equal(made.caHash, cluster.pki!.caHash);
    const [first, ...rest] = cluster.endpoints();

    await assert.rejects(
      joinCluster({ addresses: [first!], token: made.token, caHash: `sha256:${'0'.repeat(64)}`, identities: [agentIdentity('node-j1', '127.0.0.51')] }),
      (err: unknown) => err instanceof JoinError && /answered a CA whose hash is sha256:[0-9a-f]{64}, not the pinned sha256:0+/.test(err.message),
    );

    // Through a follower if the first member leads: the join is passed to the leader.
    const joined = await joinCluster({ addresses: [rest[0]!], token: made.token, caHash: made.caHash, identities: [agentIdentity('node-j1', '127.0.0.51')] });
    const info = certificateInfo(joined.pairs[0]!.certPem);
    assert.deepEqual({ cn: info.commonName, o: info.organization, ips: info.ipAddresses }, { cn: 'node-j1', o: 'tugboat:nodes', ips: ['127.0.0.51'] });
    assert.equal(joined.caKeyPem, undefined, 'an agent token does not hand out the CA key');

    // The certificate works, as the node's: it reads Nodes, and is refused Secrets.
    const asNode = new TugClient({ endpoints: cluster.endpoints(), security: securityOf(joined.caPem, joined.pairs[0]!), retryBudgetMs: 5_000 });
    try {
      await asNode.nodes.list();
      await assert.rejects(asNode.secrets.list({ namespace: 'default' }), (err: unknown) => isApiError(err) && /node "node-j1" \(tugboat:nodes\) may not list secrets/.test(err.message));
    } finally {
      asNode.close();
    }

    const again = joinCluster({ addresses: [rest[1]!], token: made.token, caHash: made.caHash, identities: [agentIdentity('node-j2', '127.0.0.52')] });
    await assert.rejects(again, (err: unknown) => err instanceof JoinError && new RegExp(`bootstrap token ${made.info.id} is used up \\(1 of 1 joins\\)`).test(err.message));
    const [listed] = (await admin.cluster.listTokens()).filter((t) => t.id === made.info.id);
    assert.equal(listed?.used, 1);

    const wrongSecret = `${made.info.id}.${'a'.repeat(16)}`;
    await assert.rejects(
      joinCluster({ addresses: [first!], token: wrongSecret, caHash: made.caHash, identities: [agentIdentity('node-j3', '127.0.0.53')] }),
      (err: unknown) => err instanceof JoinError && /the secret does not match/.test(err.message),
    );
    await admin.cluster.deleteToken(made.info.id);
    await assert.rejects(
      joinCluster({ addresses: [first!], token: made.token, caHash: made.caHash, identities: [agentIdentity('node-j3', '127.0.0.53')] }),
      (err: unknown) => err instanceof JoinError && /does not exist \(it was deleted, or never made\)/.test(err.message),
    );

    const forAgents = await admin.cluster.createToken({ ttlSeconds: 600, role: 'agent', description: '', maxUses: 0 });
    await assert.rejects(
      joinCluster({ addresses: [first!], token: forAgents.token, caHash: forAgents.caHash, identities: [{ role: 'member', commonName: 'c9', ipAddresses: ['127.0.0.59'] }] }),
      (err: unknown) => err instanceof JoinError && /is for agents: it may not sign a member certificate/.test(err.message),
    );

    const logs = cluster.members.map((m) => readFileSync(m.logFile, 'utf8')).join('\n');
    assert.ok(!logs.includes(made.token.split('.')[1]!) && !logs.includes(forAgents.token.split('.')[1]!), 'no token secret in any log');
    assert.match(logs, new RegExp(`"token":"${made.info.id}".*"msg":"join refused"`));
  });

  it('only admins and members manage tokens', async () => {
    const viewer = new TugClient({ endpoints: cluster.endpoints(), security: await cluster.pki!.clientSecurity({ role: 'viewer', commonName: 'ann' }), retryBudgetMs: 3_000 });
    try {
      await assert.rejects(viewer.cluster.listTokens(), (err: unknown) => isApiError(err) && /viewer "ann" \(tugboat:viewers\) may not manage bootstrap tokens/.test(err.message));
    } finally {
      viewer.close();
    }
    await assert.rejects(cluster.client().cluster.createToken({ ttlSeconds: 10, role: 'agent', description: '', maxUses: 0 }), (err: unknown) => isApiError(err) && /ttl_seconds: 10 is not from 60/.test(err.message));
  });

  it('an API token calls the API as its user and role, without a client certificate, until it is revoked', async () => {
    const admin = cluster.client();
    const made = await admin.cluster.createToken({ ttlSeconds: 3600, role: 'viewer', description: '', maxUses: 0, user: 'ann' });
    const ca = readFileSync(cluster.pki!.caFile);
    const asAnn = new TugClient({ endpoints: cluster.endpoints(), security: { bearer: { ca, token: made.token } }, retryBudgetMs: 3_000, unreachableRoundsMax: 1 });
    try {
      assert.ok((await asAnn.namespaces.list()).items.some((n) => n.metadata.name === 'default'));
      await assert.rejects(
        asAnn.configMaps.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }),
        (err: unknown) => isApiError(err) && /viewer "ann" \(tugboat:viewers\) may not create configmaps default\/x: viewers only read/.test(err.message),
      );
      await admin.cluster.deleteToken(made.info.id);
      await new Promise((r) => setTimeout(r, 500)); // every member applies the delete
      await assert.rejects(asAnn.namespaces.list(), (err: unknown) => isApiError(err) && new RegExp(`bootstrap token ${made.info.id} does not exist`).test(err.message));
    } finally {
      asAnn.close();
    }
    const join = await admin.cluster.createToken({ ttlSeconds: 600, role: 'agent', description: '', maxUses: 0 });
    const withJoinToken = new TugClient({ endpoints: cluster.endpoints(), security: { bearer: { ca, token: join.token } }, retryBudgetMs: 3_000, unreachableRoundsMax: 1 });
    try {
      await assert.rejects(withJoinToken.namespaces.list(), (err: unknown) => isApiError(err) && /is for joining a node as an agent; it does not call the API/.test(err.message));
    } finally {
      withJoinToken.close();
    }
  });

  it('renews a certificate for its own identity, with the new key', async () => {
    const security = await cluster.pki!.clientSecurity({ role: 'agent', commonName: 'node-r1' });
    const client = new TugClient({ endpoints: cluster.endpoints(), security, retryBudgetMs: 5_000 });
    try {
      const next = await makeSigningRequest({ commonName: 'someone-else', ipAddresses: ['127.0.0.99'] });
      const renewed = certificateInfo(await client.cluster.renewCertificate(next.csrPem));
      assert.deepEqual({ cn: renewed.commonName, o: renewed.organization, ips: renewed.ipAddresses }, { cn: 'node-r1', o: 'tugboat:nodes', ips: [] }, 'the identity is the caller\'s, not the request\'s');
    } finally {
      client.close();
    }
  });

  it('a tug-control with a member token and no certificate joins, and restarts on the files it wrote', async () => {
    const made = await cluster.client().cluster.createToken({ ttlSeconds: 600, role: 'member', description: 'c4', maxUses: 1 });
    const c4 = await cluster.join('c4', { host: '127.0.0.4', bootstrap: { token: made.token, caHash: made.caHash } });
    assert.ok(existsSync(c4.tls!.certFile) && existsSync(c4.tls!.caKeyFile), 'certificate and CA key written');
    assert.deepEqual(certificateInfo(readFileSync(c4.tls!.certFile, 'utf8')).ipAddresses, ['127.0.0.4']);
    const st = await cluster.client().cluster.status();
    assert.ok(st.members.some((m) => m.name === 'c4'));
    assert.equal(await cluster.terminate('c4'), 0);
    await cluster.restart('c4');
    await cluster.waitReady('c4');
  });

  it('tug host configure joins a control node with one use of a member token, and a second run joins no more', async () => {
    const made = await cluster.client().cluster.createToken({ ttlSeconds: 600, role: 'member', description: 'host', maxUses: 1 });
    const root = mkdtempSync(join(tmpdir(), 'tug-host-join-'));
    try {
      const keys = join(root, 'copied-keys.yaml');
      writeFileSync(keys, 'keys: []\n');
      const [via] = cluster.endpoints();
      const args = ['host', 'configure', '--root', root, '--join', via!, '--token', made.token, '--ca-hash', made.caHash, '--node-name', 'h1', '--address', '127.0.0.61', '--encryption-key-file', keys, '--cgroup-driver', 'cgroupfs'];
      const first = await runCaptured(args, { env: {}, homedir: '/root' });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`^joined through ${via!.replace(/\./g, '\\.')} as agent and member h1$`, 'm'));
      const pki = join(root, 'etc/tugboat/pki');
      for (const f of ['ca.crt', 'ca.key', 'agent.crt', 'agent.key', 'control.crt', 'control.key', 'encryption-keys.yaml']) assert.ok(existsSync(join(pki, f)), `${f} written`);
      assert.deepEqual(certificateInfo(readFileSync(join(pki, 'control.crt'), 'utf8')).ipAddresses, ['127.0.0.61']);
      assert.match(readFileSync(join(root, 'etc/systemd/system/tug-control.service'), 'utf8'), new RegExp(` --join ${via!.replace(/\./g, '\\.')} `));
      // The token is used up now; a second run finds the certificates and neither joins nor writes.
      const second = await runCaptured(args, { env: {}, homedir: '/root' });
      assert.equal(second.code, 0, second.stderr);
      assert.doesNotMatch(second.stdout, /^(joined|wrote) /m);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('certificate renewal', () => {
  let cluster: TugCluster;
  before(async () => {
    cluster = await TugCluster.start({ size: 1, dirPrefix: 'tug-renew-', certificateIssuedDaysAgo: 300 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a member whose certificate is past two thirds of its life renews it, and serves new connections with it', async () => {
    const [c1] = cluster.members;
    const before = certificateInfo(readFileSync(c1!.tls!.certFile, 'utf8'));
    const deadline = Date.now() + 30_000;
    let after = before;
    while (after.serial === before.serial && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      after = certificateInfo(readFileSync(c1!.tls!.certFile, 'utf8'));
    }
    assert.notEqual(after.serial, before.serial, `renewed within 30 s:\n${cluster.logTail('c1', 20)}`);
    assert.deepEqual({ cn: after.commonName, o: after.organization, ips: after.ipAddresses }, { cn: before.commonName, o: before.organization, ips: before.ipAddresses });
    assert.ok(after.notAfter.getTime() - Date.now() > 364 * 86_400_000, 'valid a year from now');
    assert.match(cluster.logTail('c1', 200), /"msg":"certificate renewed"/);
    const fresh = cluster.client();
    try {
      await fresh.namespaces.list();
    } finally {
      fresh.close();
    }
  });
});
