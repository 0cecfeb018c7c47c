/**
 * Secrets at rest: a Secret's values are sealed (AES-256-GCM) before the leader proposes them,
 * so the store, the Raft log and the snapshots hold only ciphertext; ObjectService opens them
 * again on every read (objects.ts). Pure: no I/O; the keys are given (tug-control loads them
 * from --encryption-key-file, @tugboat/pki's loadEncryptionKeys).
 *
 * - Keys: a list of named 32-byte keys. The first seals; every key opens (as the aesgcm
 *   provider of Kubernetes' EncryptionConfiguration), so a key is rotated in second, then first.
 *   No keys: Secrets are written in clear (and a sealed one cannot be opened).
 * - What is sealed: `data` and `stringData`, whichever the Secret holds, together, as the JSON
 *   `{"data":...,"stringData":...}`. In the stored object they are replaced, at the place of
 *   the first, by one string field SEALED_FIELD:
 *     `tug:aesgcm:v1:KEYNAME:` + base64(nonce (12 random bytes) | ciphertext | tag (16 bytes))
 *   with `tug:aesgcm:v1:Secret:NAMESPACE/NAME` as additional authenticated data, so a sealed
 *   value does not open as another Secret's. Everything else (metadata, type, immutable)
 *   stays in clear: listing, selectors and describe work as before.
 * - A Secret stored without SEALED_FIELD (written before encryption was turned on) opens as
 *   it is; its next write seals it.
 * - sealSecret given the stored version reuses its sealed value when the values are the same
 *   and it was sealed with the first key: an update that changes nothing stays a no-op in the
 *   store (a fresh nonce would make every update a change). Sealed with another key, or stored
 *   in clear, the values are sealed again: that write re-seals them with the current key, which
 *   is how a rotation rewrites every Secret (docs/security.md).
 * - Failures are SecretSealError naming the Secret and the key: sealed with a key not among
 *   the keys given, or a value that does not open (changed, moved from another Secret, or
 *   another key of the same name). Messages never hold a value.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '@tugboat/pki';
import { deepEqual } from '@tugboat/store';

/** SEALED_FIELD is the field of a stored Secret that holds its sealed values. */
export const SEALED_FIELD = 'sealed';

/** The fields of a Secret that hold values, sealed together in this order. */
const VALUE_FIELDS = ['data', 'stringData'] as const;

const PREFIX = 'tug:aesgcm:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

type Json = Record<string, unknown>;

/** SealProblem says why a Secret could not be opened. */
export type SealProblem = 'unknown key' | 'does not open' | 'malformed';

/** SecretSealError: a stored Secret's values cannot be opened with the keys given. */
export class SecretSealError extends Error {
  override readonly name = 'SecretSealError';
  readonly namespace: string;
  readonly secretName: string;
  /** keyName is the key the value names ('' when it names none). */
  readonly keyName: string;
  readonly problem: SealProblem;
  /** detail is the message without the Secret's name. */
  readonly detail: string;
  constructor(ref: { namespace: string; name: string }, keyName: string, problem: SealProblem, detail: string) {
    super(`Secret ${ref.namespace}/${ref.name}: ${detail}`);
    this.detail = detail;
    this.namespace = ref.namespace;
    this.secretName = ref.name;
    this.keyName = keyName;
    this.problem = problem;
  }
}

export function isSecretSealError(e: unknown): e is SecretSealError {
  return e instanceof Error && e.name === 'SecretSealError';
}

interface SecretLike {
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string };
}

function refOf(o: SecretLike): { namespace: string; name: string } {
  return { namespace: o.metadata.namespace ?? '', name: o.metadata.name ?? '' };
}

function aad(o: SecretLike): Buffer {
  const r = refOf(o);
  return Buffer.from(`${PREFIX}Secret:${r.namespace}/${r.name}`, 'utf8');
}

/** sealedValue is a stored Secret's sealed field, or undefined (not a Secret, or stored in clear). */
function sealedValue(o: SecretLike): string | undefined {
  if (o.kind !== 'Secret') return undefined;
  const v = (o as unknown as Json)[SEALED_FIELD];
  return typeof v === 'string' ? v : undefined;
}

/** isSealed tells whether `o` is a Secret whose values are sealed. */
export function isSealed(o: SecretLike): boolean {
  return sealedValue(o) !== undefined;
}

/** sealedWith is the name of the key a stored Secret was sealed with (undefined: not sealed). */
export function sealedWith(o: SecretLike): string | undefined {
  const v = sealedValue(o);
  if (v === undefined) return undefined;
  if (!v.startsWith(PREFIX)) return '';
  const rest = v.slice(PREFIX.length);
  const colon = rest.indexOf(':');
  return colon < 0 ? '' : rest.slice(0, colon);
}

/** valuesOf is what is sealed of a Secret: its value fields that are present (undefined: none). */
function valuesOf(o: Json): Json | undefined {
  const out: Json = {};
  for (const f of VALUE_FIELDS) if (o[f] !== undefined) out[f] = o[f];
  return Object.keys(out).length === 0 ? undefined : out;
}

/** replaceValues is `o` with its value fields replaced by `fields`, at the place of the first of them (or of SEALED_FIELD). */
function replaceValues<T>(o: T, fields: Json): T {
  const out: Json = {};
  let placed = false;
  for (const [k, v] of Object.entries(o as Json)) {
    if (k === SEALED_FIELD || (VALUE_FIELDS as readonly string[]).includes(k)) {
      if (!placed) Object.assign(out, fields);
      placed = true;
      continue;
    }
    out[k] = v;
  }
  if (!placed) Object.assign(out, fields);
  return out as T;
}

function seal(o: SecretLike, values: Json, key: EncryptionKey): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
  cipher.setAAD(aad(o));
  const body = Buffer.concat([cipher.update(JSON.stringify(values), 'utf8'), cipher.final()]);
  return `${PREFIX}${key.name}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}

/** unseal returns the values sealed in a stored Secret. Throws SecretSealError. */
function unseal(o: SecretLike, sealed: string, keys: readonly EncryptionKey[]): Json {
  const ref = refOf(o);
  const keyName = sealedWith(o) ?? '';
  if (keyName === '') throw new SecretSealError(ref, '', 'malformed', `the sealed value is not of the form ${PREFIX}KEYNAME:BASE64`);
  const key = keys.find((k) => k.name === keyName);
  if (key === undefined) {
    const have = keys.length === 0 ? 'this member has no encryption keys' : `this member's keys are ${keys.map((k) => `"${k.name}"`).join(', ')}`;
    throw new SecretSealError(ref, keyName, 'unknown key', `sealed with encryption key "${keyName}", which this member does not have (${have})`);
  }
  const raw = Buffer.from(sealed.slice(PREFIX.length + keyName.length + 1), 'base64');
  let values: unknown;
  try {
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error('too short');
    const decipher = createDecipheriv('aes-256-gcm', key.secret, raw.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(o));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    values = JSON.parse(text);
  } catch {
    throw new SecretSealError(
      ref,
      keyName,
      'does not open',
      `the value sealed with encryption key "${keyName}" does not open: it was changed, sealed for another Secret, or with another key of that name`,
    );
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new SecretSealError(ref, keyName, 'malformed', `the value sealed with encryption key "${keyName}" is not a JSON object`);
  }
  return values as Json;
}

function sameRef(a: SecretLike, b: SecretLike): boolean {
  return refOf(a).namespace === refOf(b).namespace && refOf(a).name === refOf(b).name;
}

/** openedOrUndefined is unseal, or undefined for a value that does not open (a write seals it anew). */
function openedOrUndefined(o: SecretLike, sealed: string, keys: readonly EncryptionKey[]): Json | undefined {
  try {
    return unseal(o, sealed, keys);
  } catch (err) {
    if (isSecretSealError(err)) return undefined;
    throw err;
  }
}

/**
 * sealSecret returns `obj` as it is to be stored: for a Secret with values, when `keys` has
 * any, its values sealed with the first key (the stored version's sealed value reused when it
 * holds the same values under that key; see the module comment). Anything else is returned
 * unchanged.
 */
export function sealSecret<T extends SecretLike>(obj: T, keys: readonly EncryptionKey[], stored?: SecretLike): T {
  if (obj.kind !== 'Secret' || keys.length === 0) return obj;
  const values = valuesOf(obj as unknown as Json);
  if (values === undefined) return obj;
  const key = keys[0]!;
  const before = stored === undefined ? undefined : sealedValue(stored);
  if (before !== undefined && sealedWith(stored!) === key.name && sameRef(stored!, obj) && deepEqual(openedOrUndefined(stored!, before, keys), values)) {
    return replaceValues(obj, { [SEALED_FIELD]: before });
  }
  return replaceValues(obj, { [SEALED_FIELD]: seal(obj, values, key) });
}

/**
 * openSecret returns a stored object as clients see it: a sealed Secret with its values opened
 * (in the place of SEALED_FIELD); anything else as it is (the same object). Throws
 * SecretSealError.
 */
export function openSecret<T extends SecretLike>(obj: T, keys: readonly EncryptionKey[]): T {
  const sealed = sealedValue(obj);
  if (sealed === undefined) return obj;
  return replaceValues(obj, unseal(obj, sealed, keys));
}

/** withoutSealedValues is a sealed Secret without its sealed field (its values left out); anything else as it is. */
export function withoutSealedValues<T extends SecretLike>(obj: T): T {
  return sealedValue(obj) === undefined ? obj : replaceValues(obj, {});
}
