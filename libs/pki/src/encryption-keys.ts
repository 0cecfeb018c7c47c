// encryption-keys.ts: the key file of tug-control's --encryption-key-file, the named 32-byte
// keys that Secrets are sealed with at rest (AES-256-GCM, libs/apiserver/src/secret-encryption.ts).
// The first key seals, every key listed opens, as the aesgcm provider of Kubernetes'
// EncryptionConfiguration does; so a key is rotated in by listing it second first, then first.
// The file is YAML (JSON is YAML too):
//
//   keys:
//     - name: key-2
//       secret: BASE64 OF 32 RANDOM BYTES       # head -c 32 /dev/urandom | base64
//     - name: key-1
//       secret: ...
//
// Only its owner may read it (mode 0600 or stricter): loadEncryptionKeys refuses it otherwise,
// as ssh refuses a private key others can read. Every problem is a PkiError naming the file and
// what is wrong; a key's secret never appears in a message.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import { writePrivateKey } from './files.ts';
import { PkiError } from './pki.ts';

/** EncryptionKey is one named AES-256 key: `secret` holds ENCRYPTION_KEY_BYTES bytes. */
export interface EncryptionKey {
  readonly name: string;
  readonly secret: Buffer;
}

/** ENCRYPTION_KEY_BYTES: the length of a key, 32 bytes (AES-256). */
export const ENCRYPTION_KEY_BYTES = 32;

/** ENCRYPTION_KEYS_MAX: the most keys a file may list. */
export const ENCRYPTION_KEYS_MAX = 16;

/** A key name: a DNS-1123 label (so never a ':', which separates the fields of a sealed value). */
const keyNameRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const base64Re = /^[A-Za-z0-9+/]+={0,2}$/;
const fileBytesMax = 64 * 1024;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** parseEncryptionKeys reads the text of key file `file` (named in errors); throws PkiError. */
export function parseEncryptionKeys(text: string, file: string): EncryptionKey[] {
  const fail = (problem: string): never => {
    throw new PkiError(`encryption key file ${file}: ${problem}`);
  };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // The parser's message quotes the line it failed on, which may hold a key: say where only.
    const pos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    return fail(`not YAML or JSON${pos === undefined ? '' : ` (line ${pos.line}, column ${pos.col})`}`);
  }
  if (!isPlainObject(doc)) return fail('must be a mapping with a "keys" list');
  for (const field of Object.keys(doc)) if (field !== 'keys') fail(`unknown field "${field}" (only "keys")`);
  const list = doc['keys'];
  if (!Array.isArray(list) || list.length === 0) return fail('keys: must list at least one key ({name, secret})');
  if (list.length > ENCRYPTION_KEYS_MAX) fail(`keys: at most ${ENCRYPTION_KEYS_MAX} keys, got ${list.length}`);
  const seen = new Set<string>();
  return list.map((entry: unknown, i): EncryptionKey => {
    const at = `keys[${i}]`;
    if (!isPlainObject(entry)) return fail(`${at}: must be a mapping with "name" and "secret"`);
    for (const field of Object.keys(entry)) if (field !== 'name' && field !== 'secret') fail(`${at}: unknown field "${field}" (only "name" and "secret")`);
    const name = entry['name'];
    if (typeof name !== 'string' || name === '') return fail(`${at}.name: required`);
    if (!keyNameRe.test(name)) fail(`${at}.name: ${JSON.stringify(name)} is not a DNS-1123 label (lower-case letters, digits, '-')`);
    if (seen.has(name)) fail(`${at}.name: key "${name}" is listed twice`);
    seen.add(name);
    const secret = entry['secret'];
    if (typeof secret !== 'string' || secret === '') return fail(`${at}.secret: required (base64 of ${ENCRYPTION_KEY_BYTES} random bytes)`);
    const bytes = Buffer.from(secret, 'base64');
    if (!base64Re.test(secret) || bytes.toString('base64') !== secret) fail(`${at}.secret (key "${name}"): not base64`);
    if (bytes.length !== ENCRYPTION_KEY_BYTES) fail(`${at}.secret (key "${name}"): must be ${ENCRYPTION_KEY_BYTES} bytes, got ${bytes.length}`);
    return { name, secret: bytes };
  });
}

/**
 * loadEncryptionKeys reads and checks key file `file`: a regular file that only its owner may
 * read or write (mode 0600 or stricter), holding at least one key. Throws PkiError.
 */
export function loadEncryptionKeys(file: string): EncryptionKey[] {
  let mode: number;
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new PkiError(`encryption key file ${file}: not a regular file`);
    mode = st.mode & 0o777;
    size = st.size;
  } catch (err) {
    if (err instanceof PkiError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new PkiError(`encryption key file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new PkiError(`encryption key file ${file}: mode 0${mode.toString(8)} lets others than its owner read or change it; chmod 600 ${file}`);
  }
  if (size > fileBytesMax) throw new PkiError(`encryption key file ${file}: ${size} bytes, more than ${fileBytesMax}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PkiError(`encryption key file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseEncryptionKeys(text, file);
}

/** newEncryptionKey makes a key of ENCRYPTION_KEY_BYTES random bytes named `name`. */
export function newEncryptionKey(name: string): EncryptionKey {
  if (!keyNameRe.test(name)) throw new PkiError(`encryption key name ${JSON.stringify(name)} is not a DNS-1123 label`);
  return { name, secret: randomBytes(ENCRYPTION_KEY_BYTES) };
}

/** encryptionKeysText is the key file holding `keys`, the first sealing. */
export function encryptionKeysText(keys: readonly EncryptionKey[]): string {
  const lines = ['# tug-control --encryption-key-file: Secrets are sealed with the first key; every key listed opens them.', 'keys:'];
  for (const k of keys) lines.push(`  - name: ${k.name}`, `    secret: ${k.secret.toString('base64')}`);
  return `${lines.join('\n')}\n`;
}

/** writeEncryptionKeys writes key file `file` (mode 0600, replaced atomically, its folder made). */
export function writeEncryptionKeys(file: string, keys: readonly EncryptionKey[]): void {
  writePrivateKey(file, encryptionKeysText(keys));
}
