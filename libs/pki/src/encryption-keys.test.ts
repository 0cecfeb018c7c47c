// encryption-keys.test.ts: tug-control's --encryption-key-file: written 0600, read back, and
// every bad file refused with a message naming the file and the problem (never the secret).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadEncryptionKeys, newEncryptionKey, parseEncryptionKeys, writeEncryptionKeys } from './index.ts';

describe('encryption key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = Buffer.alloc(32, 7).toString('base64');

  it('writes a file only its owner reads, and reads back the keys in order', () => {
    const file = join(dir, 'keys.yaml');
    const keys = [newEncryptionKey('key-2'), newEncryptionKey('key-1')];
    writeEncryptionKeys(file, keys);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const back = loadEncryptionKeys(file);
    assert.deepEqual(back.map((k) => k.name), ['key-2', 'key-1']);
    assert.ok(back[0]!.secret.equals(keys[0]!.secret));
    assert.equal(back[1]!.secret.length, 32);
    assert.notDeepEqual(keys[0]!.secret, keys[1]!.secret);
  });

  it('reads JSON as well as YAML', () => {
    const keys = parseEncryptionKeys(JSON.stringify({ keys: [{ name: 'k1', secret }] }), 'k.json');
    assert.deepEqual(keys.map((k) => [k.name, k.secret.length]), [['k1', 32]]);
  });

  it('refuses a file others may read, a missing file and a directory, naming the file', () => {
    const file = join(dir, 'open.yaml');
    writeFileSync(file, `keys:\n  - name: k1\n    secret: ${secret}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    assert.throws(() => loadEncryptionKeys(file), { name: 'PkiError', message: `encryption key file ${file}: mode 0644 lets others than its owner read or change it; chmod 600 ${file}` });
    chmodSync(file, 0o600);
    assert.equal(loadEncryptionKeys(file).length, 1);
    assert.throws(() => loadEncryptionKeys(join(dir, 'nope.yaml')), { message: `encryption key file ${join(dir, 'nope.yaml')}: no such file` });
    assert.throws(() => loadEncryptionKeys(dir), { message: `encryption key file ${dir}: not a regular file` });
  });

  it('names what is wrong with the content, without quoting a secret', () => {
    const cases: [string, RegExp][] = [
      ['keys: [', /^encryption key file f: not YAML or JSON \(line \d+, column \d+\)$/],
      ['- a', /must be a mapping with a "keys" list/],
      ['keys: []', /keys: must list at least one key/],
      [`keys: [{name: k1, secret: ${secret}}]\nextra: 1`, /unknown field "extra"/],
      [`keys: [{name: k1, secret: ${secret}, mode: x}]`, /keys\[0\]: unknown field "mode"/],
      [`keys: [{secret: ${secret}}]`, /keys\[0\]\.name: required/],
      [`keys: [{name: "a:b", secret: ${secret}}]`, /keys\[0\]\.name: "a:b" is not a DNS-1123 label/],
      [`keys: [{name: k1, secret: ${secret}}, {name: k1, secret: ${secret}}]`, /keys\[1\]\.name: key "k1" is listed twice/],
      ['keys: [{name: k1}]', /keys\[0\]\.secret: required \(base64 of 32 random bytes\)/],
      ['keys: [{name: k1, secret: "not base64!"}]', /keys\[0\]\.secret \(key "k1"\): not base64/],
      [`keys: [{name: k1, secret: ${Buffer.alloc(16).toString('base64')}}]`, /keys\[0\]\.secret \(key "k1"\): must be 32 bytes, got 16/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseEncryptionKeys(text, 'f'), (err: Error) => {
        assert.equal(err.name, 'PkiError');
        assert.match(err.message, /^encryption key file f: /);
        assert.match(err.message, message);
        assert.ok(!err.message.includes(secret), 'the secret is not in the message');
        return true;
      }, text);
    }
  });
});
