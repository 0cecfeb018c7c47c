// secret-encryption.test.ts: sealing a Secret's values for the store and opening them again:
// the round trip, what stays in clear, a value moved to another Secret or changed refused, an
// unknown key named, no-op updates kept no-ops, and a key rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newEncryptionKey } from '@tugboat/pki';
import { SEALED_FIELD, isSealed, isSecretSealError, openSecret, sealSecret, sealedWith, withoutSealedValues } from './secret-encryption.ts';

const k1 = newEncryptionKey('k1');
const k2 = newEncryptionKey('k2');
const password = Buffer.from('hunter2-correct-horse').toString('base64');

function secret(name = 'db', namespace = 'default', data: Record<string, string> = { password }): { apiVersion: string; kind: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; data: Record<string, string>; type: string } {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: { app: 'db' } }, data, type: 'Opaque' };
}

function sealedText(o: object): string {
  return (o as Record<string, string>)[SEALED_FIELD]!;
}

test('a sealed Secret holds no value in clear, keeps metadata and type, and opens to the same object', () => {
  const s = secret();
  const sealed = sealSecret(s, [k1]);
  const text = JSON.stringify(sealed);
  assert.ok(!text.includes(password) && !text.includes('hunter2'), text);
  assert.ok(!text.includes('"password"'), 'the keys of data are sealed too');
  assert.deepEqual(Object.keys(sealed), ['apiVersion', 'kind', 'metadata', SEALED_FIELD, 'type'], 'sealed in the place of data');
  assert.deepEqual(sealed.metadata, s.metadata);
  assert.match(sealedText(sealed), /^tug:aesgcm:v1:k1:[A-Za-z0-9+/]+=*$/);
  assert.equal(sealedWith(sealed), 'k1');
  assert.ok(isSealed(sealed));
  const opened = openSecret(sealed, [k1]);
  assert.deepEqual(opened, s);
  assert.deepEqual(Object.keys(opened), Object.keys(s), 'the fields come back in their order');
  assert.notEqual(sealedText(sealSecret(s, [k1])), sealedText(sealed), 'a random nonce per seal');
});

test('stringData is sealed with data; other kinds, Secrets without values and no keys are left as they are', () => {
  const both = { ...secret(), stringData: { user: 'admin' } };
  const sealed = sealSecret(both, [k1]);
  assert.equal((sealed as Record<string, unknown>)['stringData'], undefined);
  assert.deepEqual(openSecret(sealed, [k1]), both);
  const cm = { kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { a: 'b' } };
  assert.equal(sealSecret(cm, [k1]), cm);
  const empty = { kind: 'Secret', metadata: { name: 'e', namespace: 'default' }, type: 'Opaque' };
  assert.equal(sealSecret(empty, [k1]), empty);
  const s = secret();
  assert.equal(sealSecret(s, []), s, 'no keys: stored in clear');
  assert.equal(openSecret(s, [k1]), s, 'a Secret stored in clear (before encryption) is read as it is');
  assert.equal(isSealed(s), false);
});

test('a sealed value does not open as another Secret, nor after a change; the error names the Secret and the key', () => {
  const sealed = sealSecret(secret('db'), [k1]);
  const moved = { ...secret('other', 'prod'), [SEALED_FIELD]: sealedText(sealed) };
  delete (moved as Record<string, unknown>)['data'];
  assert.throws(() => openSecret(moved, [k1]), (err: unknown) => {
    assert.ok(isSecretSealError(err));
    assert.equal(err.problem, 'does not open');
    assert.equal(err.keyName, 'k1');
    assert.match(err.message, /^Secret prod\/other: the value sealed with encryption key "k1" does not open/);
    return true;
  });
  const raw = Buffer.from(sealedText(sealed).slice('tug:aesgcm:v1:k1:'.length), 'base64');
  raw[raw.length - 20]! ^= 1;
  const tampered = { ...sealed, [SEALED_FIELD]: `tug:aesgcm:v1:k1:${raw.toString('base64')}` };
  assert.throws(() => openSecret(tampered, [k1]), { name: 'SecretSealError', message: /does not open/ });
  const otherKeySameName = { ...newEncryptionKey('k1') };
  assert.throws(() => openSecret(sealed, [otherKeySameName]), { message: /does not open/ });
  assert.throws(() => openSecret({ ...sealed, [SEALED_FIELD]: 'garbage' }, [k1]), { name: 'SecretSealError', message: /not of the form tug:aesgcm:v1:KEYNAME:BASE64/ });
  for (const err of [() => openSecret(moved, [k1]), () => openSecret(tampered, [k1])]) {
    assert.throws(err, (e: Error) => !e.message.includes(password));
  }
});

test('a value sealed with a key the member lacks is refused naming the Secret and the key', () => {
  const sealed = sealSecret(secret(), [k2, k1]);
  assert.throws(() => openSecret(sealed, [k1]), {
    name: 'SecretSealError',
    message: 'Secret default/db: sealed with encryption key "k2", which this member does not have (this member\'s keys are "k1")',
  });
  assert.throws(() => openSecret(sealed, []), { message: /sealed with encryption key "k2", which this member does not have \(this member has no encryption keys\)/ });
  assert.deepEqual(withoutSealedValues(sealed), { apiVersion: 'v1', kind: 'Secret', metadata: secret().metadata, type: 'Opaque' });
});

test('an update that changes nothing keeps the stored sealed value (a no-op); a change seals anew', () => {
  const stored = sealSecret(secret(), [k1]);
  const same = sealSecret(secret(), [k1], stored);
  assert.equal(sealedText(same), sealedText(stored));
  const changed = sealSecret(secret('db', 'default', { password: Buffer.from('other').toString('base64') }), [k1], stored);
  assert.notEqual(sealedText(changed), sealedText(stored));
  assert.notEqual(sealedText(sealSecret(secret('db2'), [k1], stored)), sealedText(stored), 'never reused for another Secret');
  const broken = { ...stored, [SEALED_FIELD]: `${sealedText(stored).slice(0, -8)}AAAAAAA=` };
  assert.deepEqual(openSecret(sealSecret(secret(), [k1], broken), [k1]), secret(), 'a stored value that does not open is sealed anew');
});

test('rotation: with the new key second nothing changes; first, old values still open and every write re-seals with it', () => {
  const old = sealSecret(secret(), [k1]);
  // Step 1: the new key second. Writes still seal with k1; an unchanged update stays a no-op.
  assert.equal(sealedText(sealSecret(secret(), [k1, k2], old)), sealedText(old));
  assert.deepEqual(openSecret(old, [k1, k2]), secret());
  // Step 2: the new key first. Values sealed with k1 still open...
  assert.deepEqual(openSecret(old, [k2, k1]), secret());
  // ...and a write of the same values is not a no-op: it re-seals them with k2.
  const rewritten = sealSecret(secret(), [k2, k1], old);
  assert.equal(sealedWith(rewritten), 'k2');
  assert.deepEqual(openSecret(rewritten, [k2, k1]), secret());
  assert.equal(sealedText(sealSecret(secret(), [k2, k1], rewritten)), sealedText(rewritten), 'then no-op again');
  // Step 3: the old key removed. What was rewritten opens; what was not is named.
  assert.deepEqual(openSecret(rewritten, [k2]), secret());
  assert.throws(() => openSecret(old, [k2]), { message: /sealed with encryption key "k1", which this member does not have/ });
  // A Secret stored in clear is sealed by its next write, even one that changes nothing.
  assert.equal(sealedWith(sealSecret(secret(), [k2], secret())), 'k2');
});
