import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { certificateInfo, issueCertificate, loadTls, makeCa, readSigningRequest, signPublicKey, writeCertificate, writeKeyPairFiles } from '@tugboat/pki';
import { sourceOf } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { CertificateRenewal, renewalDue } from './renewal.ts';

const DAY = 86_400_000;
const silent = { info: () => undefined, warn: () => undefined };

describe('certificate renewal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-renewal-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is due once two thirds of the certificate\'s time have passed', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date(from.getTime() + 300 * DAY);
    assert.equal(renewalDue(from, to, new Date(from.getTime() + 199 * DAY)), false);
    assert.equal(renewalDue(from, to, new Date(from.getTime() + 200 * DAY)), true);
  });

  it('renews a due certificate: new key, same identity, files rewritten, new connections use it', async () => {
    const ca = await makeCa('test');
    const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key') };
    writeCertificate(files.caFile, ca.certPem);
    writeKeyPairFiles(files, await issueCertificate(ca, { role: 'agent', commonName: 'node-1', ipAddresses: ['10.0.0.1'], now: new Date(Date.now() - 250 * DAY) }));
    const security: Security = { tls: loadTls(files) };
    const asked: string[] = [];
    const renewal = new CertificateRenewal({
      security,
      files,
      log: silent,
      // As the server does: the identity of the caller's certificate, the key of the request.
      renew: async (csrPem) => {
        const req = await readSigningRequest(csrPem);
        asked.push(req.commonName);
        return signPublicKey(ca, req.publicKey, { role: 'agent', commonName: 'node-1', ipAddresses: ['10.0.0.1'] });
      },
    });
    const before = certificateInfo(readFileSync(files.certFile, 'utf8'));
    assert.equal(await renewal.renewIfDue(new Date(Date.now() - 100 * DAY)), false, 'not due yet a hundred days ago');
    assert.equal(await renewal.renewIfDue(new Date()), true);
    const afterRenewal = certificateInfo(readFileSync(files.certFile, 'utf8'));
    assert.notEqual(afterRenewal.serial, before.serial);
    assert.deepEqual(afterRenewal.ipAddresses, ['10.0.0.1']);
    assert.deepEqual(asked, ['node-1']);
    assert.doesNotThrow(() => loadTls(files), 'the files hold a matching pair');
    assert.equal(sourceOf(security).current.cert.toString('utf8'), readFileSync(files.certFile, 'utf8'));
    assert.equal(await renewal.renewIfDue(new Date()), false, 'the new one is not due');
  });

  it('refuses a renewed certificate that is not of the cluster CA, and keeps the old pair', async () => {
    const ca = await makeCa('test');
    const other = await makeCa('other');
    const files = { caFile: join(dir, 'ca2.crt'), certFile: join(dir, 'n2.crt'), keyFile: join(dir, 'n2.key') };
    writeCertificate(files.caFile, ca.certPem);
    writeKeyPairFiles(files, await issueCertificate(ca, { role: 'agent', commonName: 'node-2', now: new Date(Date.now() - 300 * DAY) }));
    const security: Security = { tls: loadTls(files) };
    const before = readFileSync(files.certFile, 'utf8');
    const renewal = new CertificateRenewal({ security, files, log: silent, renew: async (csrPem) => signPublicKey(other, (await readSigningRequest(csrPem)).publicKey, { role: 'agent', commonName: 'node-2' }) });
    await assert.rejects(renewal.renewIfDue(new Date()), /the renewed certificate is not signed by the CA/);
    assert.equal(readFileSync(files.certFile, 'utf8'), before);
  });
});
