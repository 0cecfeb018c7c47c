import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { caHash, certificateInfo, issueCertificate, loadTls, makeCa, makeSigningRequest, PkiError, readSigningRequest, signPublicKey, verifyCertificate, writeCertificate, writeKeyPair } from './index.ts';

describe('cluster PKI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-pki-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a CA that signs member certificates with their addresses, and agent and admin ones', async () => {
    const ca = await makeCa('lab');
    const caInfo = certificateInfo(ca.certPem);
    assert.equal(caInfo.isCa, true);
    assert.equal(caInfo.commonName, 'tugboat-ca-lab');
    const member = await issueCertificate(ca, { role: 'member', commonName: 'node-1', ipAddresses: ['10.0.0.11', '127.0.0.1'], dnsNames: ['node-1'] });
    const info = certificateInfo(member.certPem);
    assert.deepEqual(
      { cn: info.commonName, o: info.organization, ips: info.ipAddresses, dns: info.dnsNames, ca: info.isCa },
      { cn: 'node-1', o: 'tugboat:members', ips: ['10.0.0.11', '127.0.0.1'], dns: ['node-1'], ca: false },
    );
    const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days <= 365, `a year, got ${days} days`);
    assert.equal(verifyCertificate(member.certPem, ca.certPem), undefined);
    const agent = await issueCertificate(ca, { role: 'agent', commonName: 'node-2', validDays: 30 });
    assert.equal(certificateInfo(agent.certPem).organization, 'tugboat:nodes');
    assert.deepEqual(certificateInfo(agent.certPem).ipAddresses, []);
  });

  it('tells a certificate of another CA, an expired one and one not yet valid', async () => {
    const ca = await makeCa('a');
    const other = await makeCa('b');
    const foreign = await issueCertificate(other, { role: 'admin', commonName: 'admin' });
    assert.match(verifyCertificate(foreign.certPem, ca.certPem) ?? '', /not signed by the CA/);
    const old = await issueCertificate(ca, { role: 'admin', commonName: 'admin', validDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    assert.match(verifyCertificate(old.certPem, ca.certPem) ?? '', /^expired at /);
    const future = await issueCertificate(ca, { role: 'admin', commonName: 'admin', now: new Date(Date.now() + 86_400_000) });
    assert.match(verifyCertificate(future.certPem, ca.certPem) ?? '', /^not valid before /);
    assert.match(verifyCertificate('junk', ca.certPem) ?? '', /not a PEM X.509 certificate/);
  });

  it('refuses names that do not belong in a certificate subject', async () => {
    const ca = await makeCa('a');
    await assert.rejects(issueCertificate(ca, { role: 'admin', commonName: 'a, O=tugboat:admins' }), PkiError);
    await assert.rejects(makeCa('has space'), /cluster name "has space"/);
    await assert.rejects(issueCertificate({ certPem: ca.certPem, keyPem: 'nope' }, { role: 'admin', commonName: 'x' }), /the CA key is not/);
  });

  it('pins a CA by its public key: the same for the same key, another for another CA', async () => {
    const ca = await makeCa('a');
    assert.match(caHash(ca.certPem), /^sha256:[0-9a-f]{64}$/);
    assert.equal(caHash(ca.certPem), caHash(ca.certPem));
    assert.notEqual(caHash(ca.certPem), caHash((await makeCa('a')).certPem));
  });

  it('writes keys 0600 and loads files, naming the file of each problem', async () => {
    const ca = await makeCa('a');
    const caFile = join(dir, 'ca.crt');
    writeCertificate(caFile, ca.certPem);
    const files = { caFile, ...writeKeyPair(dir, 'm1', await issueCertificate(ca, { role: 'member', commonName: 'm1', ipAddresses: ['127.0.0.1'] })) };
    assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
    const tls = loadTls(files);
    assert.ok(tls.cert.toString().startsWith('-----BEGIN CERTIFICATE-----'));
    const other = writeKeyPair(dir, 'm2', await issueCertificate(ca, { role: 'member', commonName: 'm2', ipAddresses: ['127.0.0.1'] }));
    assert.throws(() => loadTls({ ...files, keyFile: other.keyFile }), new RegExp(`key ${other.keyFile}: not the key of certificate ${files.certFile}`));
    assert.throws(() => loadTls({ ...files, caFile: join(dir, 'missing.crt') }), /CA certificate .*missing\.crt: no such file/);
    const foreign = writeKeyPair(dir, 'f', await issueCertificate(await makeCa('b'), { role: 'admin', commonName: 'f' }));
    assert.throws(() => loadTls({ caFile, ...foreign }), /f\.crt: not signed by the CA/);
  });

  it('signs a signing request for the key in it, with the role and names the signer decides', async () => {
    const ca = await makeCa('lab');
    const req = await makeSigningRequest({ commonName: 'node-4', ipAddresses: ['10.0.0.14'] });
    const asked = await readSigningRequest(req.csrPem);
    assert.deepEqual({ cn: asked.commonName, ips: asked.ipAddresses, dns: asked.dnsNames }, { cn: 'node-4', ips: ['10.0.0.14'], dns: [] });
    const certPem = await signPublicKey(ca, asked.publicKey, { role: 'agent', commonName: asked.commonName, ipAddresses: asked.ipAddresses });
    const info = certificateInfo(certPem);
    assert.deepEqual({ cn: info.commonName, o: info.organization, ips: info.ipAddresses }, { cn: 'node-4', o: 'tugboat:nodes', ips: ['10.0.0.14'] });
    const files = writeKeyPair(join(dir, 'csr'), 'node-4', { certPem, keyPem: req.keyPem });
    writeCertificate(join(dir, 'csr', 'ca.crt'), ca.certPem);
    assert.doesNotThrow(() => loadTls({ caFile: join(dir, 'csr', 'ca.crt'), ...files }), 'the key kept by the requester is the certificate\'s');
  });

  it('refuses a request that is not one, or whose signature does not hold', async () => {
    await assert.rejects(readSigningRequest('hello'), /not a PEM PKCS #10 certificate request/);
    const req = await makeSigningRequest({ commonName: 'node-5' });
    const der = Buffer.from(req.csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 10] = (der[der.length - 10] ?? 0) ^ 0xff;
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(readSigningRequest(pem), /not signed by its own key|not a PEM PKCS #10/);
  });
});
