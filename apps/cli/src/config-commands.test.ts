import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { issueCertificate, makeCa, writeCertificate, writeKeyPair } from '@tugboat/pki';
import { runCaptured } from './captured.ts';

describe('tug config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-config-cmd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'config');
  const tug = (...args: string[]) => runCaptured(['--config', path, ...args]);
  writeFileSync(path, 'current-context: lab\ncontexts:\n  - name: lab\n    endpoints: [10.0.0.11:7400]\n  - name: dev\n    endpoints: [127.0.0.1:7400]\n    namespace: web\n');

  it('lists the contexts, marking the current one, and switches between them', async () => {
    let r = await tug('config', 'get-contexts');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^CURRENT +NAME +ENDPOINTS +NAMESPACE +CERTIFICATE\n\* +lab +10\.0\.0\.11:7400 +<none: plain text>\n +dev +127\.0\.0\.1:7400 +web +<none: plain text>\n$/);
    r = await tug('config', 'use-context', 'dev');
    assert.equal(r.stdout, 'switched to context "dev"\n');
    assert.match(readFileSync(path, 'utf8'), /^current-context: dev$/m);
    r = await tug('config', 'use-context', 'prod');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no context "prod" in .*config; known contexts: lab, dev/);
  });

  it('gives a context its certificates after checking them, and shows paths only', async () => {
    const ca = await makeCa('lab');
    const caFile = join(dir, 'ca.crt');
    writeCertificate(caFile, ca.certPem);
    const me = writeKeyPair(dir, 'me', await issueCertificate(ca, { role: 'admin', commonName: 'me' }));
    const other = writeKeyPair(dir, 'other', await issueCertificate(ca, { role: 'admin', commonName: 'other' }));
    let r = await tug('config', 'set-credentials', 'lab', '--certificate-authority', caFile, '--client-certificate', me.certFile, '--client-key', other.keyFile);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /context lab: key .*other\.key: not the key of certificate .*me\.crt/);
    r = await tug('config', 'set-credentials', 'lab', '--certificate-authority', caFile);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give --certificate-authority, --client-certificate and --client-key/);
    r = await tug('config', 'set-credentials', 'lab', '--certificate-authority', caFile, '--client-certificate', me.certFile, '--client-key', me.keyFile);
    assert.equal(r.code, 0, r.stderr);
    r = await tug('config', 'view');
    assert.match(r.stdout, new RegExp(`client-key: ${me.keyFile}`));
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
    r = await tug('config', 'get-contexts');
    assert.match(r.stdout, new RegExp(`lab +10\\.0\\.0\\.11:7400 +${me.certFile}`));
  });

  it('makes a context with its endpoints, changes it keeping its credentials, and refuses bad input', async () => {
    let r = await tug('config', 'set-context', 'vagrant', '--endpoints', '192.168.56.11:7400,192.168.56.12:7400');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'context "vagrant" created: endpoints 192.168.56.11:7400,192.168.56.12:7400\n');
    r = await tug('config', 'set-context', 'lab', '--namespace', 'shop');
    assert.equal(r.stdout, 'context "lab" changed: endpoints 10.0.0.11:7400, namespace shop\n');
    r = await tug('config', 'get-contexts');
    assert.match(r.stdout, /^ +vagrant +192\.168\.56\.11:7400,192\.168\.56\.12:7400 +<none: plain text>$/m);
    assert.match(r.stdout, /lab +10\.0\.0\.11:7400 +shop +\S+me\.crt/);
    const before = readFileSync(path, 'utf8');
    for (const [args, re] of [
      [['new'], /--endpoints: context "new" is new: give its endpoints/],
      [['lab'], /give --endpoints or --namespace to change/],
      [['lab', '--endpoints', 'nohost'], /--endpoints: "nohost" is not HOST:PORT/],
      [['bad name', '--endpoints', 'a:1'], /context name "bad name": use 1 to 63/],
    ] as const) {
      r = await tug('config', 'set-context', ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
    assert.equal(readFileSync(path, 'utf8'), before);
  });
});
