// token-commands.test.ts: `tug token create | list | delete` against the real API server over
// an in-memory store (with a test CA, so tokens can be made), and `tug cluster init`: a CA and
// the first node's certificates in a folder, which a second run leaves alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { caHash, certificateInfo, loadEncryptionKeys, loadTls, makeCa } from '@tugboat/pki';

describe('tug token', () => {
  let api: TestApi;
  let server: TestApiServer;
  let home: string;
  before(async () => {
    api = new TestApi();
    const ca = await makeCa('test');
    api.authority = { certPem: ca.certPem, keyPem: ca.keyPem };
    server = await TestApiServer.start(api);
    home = mkdtempSync(join(tmpdir(), 'tug-token-commands-'));
  });
  after(async () => {
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  });
  const tug = (args: string[]) => runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, homedir: home });

  it('creates a token, printed once with the CA hash; lists it by ID; deletes it', async () => {
    const made = await tug(['token', 'create', '--ttl', '2h', '--uses', '1', '--description', 'node-4']);
    assert.equal(made.code, 0, made.stderr);
    const token = /^token: +([a-z0-9]{6}\.[a-z0-9]{16})$/m.exec(made.stdout)?.[1];
    assert.ok(token !== undefined, made.stdout);
    assert.match(made.stdout, new RegExp(`^ca-hash: ${caHash(api.authority!.certPem)}$`, 'm'));
    assert.match(made.stdout, /for node agents, 1 join, until /);
    const [id, secret] = token.split('.') as [string, string];

    const listed = await tug(['token', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${id} +agent +- +0/1 +in 1(19|20)m +valid +node-4$`, 'm'));
    assert.ok(!listed.stdout.includes(secret), 'list never shows a secret');
    const json = JSON.parse((await tug(['token', 'list', '-o', 'json'])).stdout) as { tokens: { id: string; used: number }[] };
    assert.deepEqual(json.tokens.map((t) => t.id), [id]);

    const deleted = await tug(['token', 'delete', token]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `token ${id} deleted\n`);
    assert.equal((await tug(['token', 'list'])).stdout, 'no bootstrap tokens\n');
    const again = await tug(['token', 'delete', id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`bootstrap token "${id}" not found`));
  });

  it('refuses bad flags with the flag named, and writes nothing', async () => {
    for (const [args, re] of [
      [['--ttl', 'soon'], /--ttl: "soon" is not a duration/],
      [['--ttl', '0'], /--ttl: a token must expire/],
      [['--uses', '-1'], /--uses: "-1" is not a whole number/],
      [['--role', 'root'], /--role: "root" is not one of agent, member, admin, viewer/],
      [['--role', 'admin'], /--user: an admin token names the user it authenticates as/],
      [['--user', 'ann'], /--user: only admin and viewer tokens name a user/],
      [['--role', 'viewer', '--user', 'ann', '--uses', '2'], /max_uses: counts joins/],
      [['--ttl', '30s'], /ttl_seconds: 30 is not from 60/],
    ] as const) {
      const r = await tug(['token', 'create', ...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
    }
    assert.equal((await tug(['token', 'list'])).stdout, 'no bootstrap tokens\n');
  });

  it('an admin or viewer token: made for a user, set in a context, shown redacted', async () => {
    const made = await tug(['token', 'create', '--role', 'viewer', '--user', 'ann', '--ttl', '720h']);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /calls the API as viewer "ann" until /);
    const token = /^token: +(\S+)$/m.exec(made.stdout)?.[1] ?? '';
    const [id, secret] = token.split('.') as [string, string];
    assert.match((await tug(['token', 'list'])).stdout, new RegExp(`^${id} +viewer +ann +- +in 29d`, 'm'));

    const caFile = join(home, 'ca.crt');
    writeFileSync(caFile, api.authority!.certPem);
    const config = join(home, 'config');
    writeFileSync(config, `current-context: lab\ncontexts:\n  - name: lab\n    endpoints: [${server.address}]\n`);
    const set = await runCaptured(['--config', config, 'config', 'set-credentials', 'lab', '--certificate-authority', caFile, '--token', token], { env: {}, homedir: home });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, `context "lab" now dials with token ${id}.REDACTED\n`);
    const view = await runCaptured(['--config', config, 'config', 'view'], { env: {}, homedir: home });
    assert.match(view.stdout, new RegExp(`token: ${id}\\.REDACTED`));
    assert.ok(!view.stdout.includes(secret), 'config view never prints the secret');
    assert.ok(readFileSync(config, 'utf8').includes(token), 'the file keeps it');
    assert.match((await runCaptured(['--config', config, 'config', 'get-contexts'], { env: {}, homedir: home })).stdout, new RegExp(`token ${id}\\.REDACTED`));
    const bad = await runCaptured(['--config', config, 'config', 'set-credentials', 'lab', '--token', token], { env: {}, homedir: home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--token needs --certificate-authority/);
  });
});

describe('tug cluster init', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-cluster-init-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a CA and the first node\'s certificates, and leaves a folder with a CA alone', async () => {
    const pki = join(dir, 'pki');
    const r = await runCaptured(['cluster', 'init', '--dir', pki, '--node', 'node1', '--address', '10.0.0.11', '--cluster-name', 'lab', '--certificate-days', '90'], { env: {}, homedir: dir });
    assert.equal(r.code, 0, r.stderr);
    const days = (certificateInfo(readFileSync(join(pki, 'agent.crt'), 'utf8')).notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 89 && days <= 90, `--certificate-days 90, got ${days}`);
    assert.match(r.stdout, /^ca-hash: sha256:[0-9a-f]{64}/m);
    const caFile = join(pki, 'ca.crt');
    for (const name of ['control', 'agent', 'admin']) loadTls({ caFile, certFile: join(pki, `${name}.crt`), keyFile: join(pki, `${name}.key`) });
    assert.deepEqual(certificateInfo(readFileSync(join(pki, 'control.crt'), 'utf8')).ipAddresses, ['10.0.0.11']);
    assert.equal(certificateInfo(readFileSync(join(pki, 'agent.crt'), 'utf8')).organization, 'tugboat:nodes');
    assert.equal(statSync(join(pki, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(loadEncryptionKeys(join(pki, 'encryption-keys.yaml')).length, 1, 'a Secrets encryption key, 0600');
    assert.match(r.stdout, new RegExp(`tug-control .* --encryption-key-file ${join(pki, 'encryption-keys.yaml')}\n`));
    const before = readFileSync(caFile, 'utf8');
    const again = await runCaptured(['cluster', 'init', '--dir', pki, '--node', 'node1', '--address', '10.0.0.11'], { env: {}, homedir: dir });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /holds a cluster CA already; nothing was written/);
    assert.equal(readFileSync(caFile, 'utf8'), before);
    const bad = await runCaptured(['cluster', 'init', '--dir', join(dir, 'other'), '--node', 'node1', '--address', 'node1.lan'], { env: {}, homedir: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--address: "node1.lan" is not an IP address/);
  });
});
