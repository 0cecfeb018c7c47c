/**
 * The command codec: a Command is encoded as UTF-8 JSON, `{"requestId"?, "ops": [...]}`.
 *
 * Both directions check the shape (and the proposer's encode fails fast with the same message
 * the state machine would give): unknown fields, wrong types, empty names, too many ops or too
 * many bytes are InvalidError, with the message naming the field. Kinds, names and field values
 * beyond that are libs/api's business.
 */
import { InvalidError } from './errors.ts';
import type { Command, ObjectRef, Op } from './types.ts';

/** maxCommandBytes is the largest encoded command, bytes (as etcd's default request limit). */
export const maxCommandBytes = 1536 * 1024;
/** maxTxnOps is the most ops in one transaction. */
export const maxTxnOps = 128;
/** maxRequestIdLength is the longest requestId, UTF-16 code units. */
export const maxRequestIdLength = 128;
/** maxNameLength is the longest kind, namespace or name (DNS-1123 subdomain length). */
export const maxNameLength = 253;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** encodeCommand checks `cmd` and encodes it. Throws InvalidError (nothing to propose). */
export function encodeCommand(cmd: Command): Uint8Array {
  checkCommand(cmd);
  const bytes = encoder.encode(JSON.stringify(cmd));
  if (bytes.length > maxCommandBytes) {
    throw new InvalidError(`command is ${bytes.length} bytes, more than the limit of ${maxCommandBytes}`);
  }
  return bytes;
}

/** decodeCommand decodes and checks a command. Throws InvalidError on malformed data. */
export function decodeCommand(data: Uint8Array): Command {
  if (data.length > maxCommandBytes) {
    throw new InvalidError(`command is ${data.length} bytes, more than the limit of ${maxCommandBytes}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new InvalidError(`command is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  checkCommand(v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Shape checks

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, what: string): never {
  throw new InvalidError(`${path}: ${what}`);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (o[k] !== undefined && !allowed.includes(k)) fail(`${path}.${k}`, 'unknown field');
  }
}

/** checkName: a non-empty string of at most maxNameLength without '/' or control characters. */
export function checkName(v: unknown, path: string): asserts v is string {
  if (typeof v !== 'string' || v.length === 0) fail(path, 'must be a non-empty string');
  if (v.length > maxNameLength) fail(path, `must be at most ${maxNameLength} characters`);
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x2f || c === 0x7f) fail(path, `must not contain '/' or control characters: ${JSON.stringify(v)}`);
  }
}

function checkOptionalString(v: unknown, path: string): void {
  if (v !== undefined && typeof v !== 'string') fail(path, 'must be a string');
}

function checkStringMap(v: unknown, path: string): void {
  if (v === undefined) return;
  if (!isPlainObject(v)) fail(path, 'must be an object of strings');
  for (const k of Object.keys(v)) if (typeof v[k] !== 'string') fail(`${path}.${k}`, 'must be a string');
}

function checkResourceVersion(v: unknown, path: string): void {
  if (v === undefined) return;
  if (typeof v !== 'string' || !/^[1-9][0-9]{0,15}$/.test(v)) fail(path, `must be a resourceVersion (a positive decimal string), got ${JSON.stringify(v)}`);
}

/** checkObject checks the shape the store relies on: kind, metadata.name, optional namespace, labels. */
export function checkObject(v: unknown, path: string): void {
  if (!isPlainObject(v)) fail(path, 'must be an object');
  checkName(v['kind'], `${path}.kind`);
  const m = v['metadata'];
  if (!isPlainObject(m)) fail(`${path}.metadata`, 'must be an object');
  checkName(m['name'], `${path}.metadata.name`);
  if (m['namespace'] !== undefined && m['namespace'] !== '') checkName(m['namespace'], `${path}.metadata.namespace`);
  checkOptionalString(m['uid'], `${path}.metadata.uid`);
  checkOptionalString(m['creationTimestamp'], `${path}.metadata.creationTimestamp`);
  checkOptionalString(m['deletionTimestamp'], `${path}.metadata.deletionTimestamp`);
  checkOptionalString(m['resourceVersion'], `${path}.metadata.resourceVersion`);
  if (m['generation'] !== undefined && typeof m['generation'] !== 'number') fail(`${path}.metadata.generation`, 'must be a number');
  checkStringMap(m['labels'], `${path}.metadata.labels`);
  checkStringMap(m['annotations'], `${path}.metadata.annotations`);
}

/** checkRef checks an ObjectRef. */
export function checkRef(v: unknown, path: string): asserts v is ObjectRef {
  if (!isPlainObject(v)) fail(path, 'must be an object');
  onlyKeys(v, ['kind', 'namespace', 'name'], path);
  checkName(v['kind'], `${path}.kind`);
  if (v['namespace'] !== undefined && v['namespace'] !== '') checkName(v['namespace'], `${path}.namespace`);
  checkName(v['name'], `${path}.name`);
}

function checkPrecondition(v: unknown, path: string): void {
  if (v !== undefined && v !== 'exists' && v !== 'notExists') fail(path, `must be "exists" or "notExists", got ${JSON.stringify(v)}`);
}

/** checkGraceful checks a delete's `graceful`: an RFC 3339 deletionTimestamp and a positive whole grace. */
function checkGraceful(v: unknown, path: string): void {
  if (v === undefined) return;
  if (!isPlainObject(v)) fail(path, 'must be an object');
  onlyKeys(v, ['deletionTimestamp', 'gracePeriodSeconds'], path);
  const ts = v['deletionTimestamp'];
  if (typeof ts !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(ts) || Number.isNaN(Date.parse(ts))) {
    fail(`${path}.deletionTimestamp`, `must be an RFC 3339 time, got ${JSON.stringify(ts)}`);
  }
  const g = v['gracePeriodSeconds'];
  if (!Number.isSafeInteger(g) || (g as number) <= 0) fail(`${path}.gracePeriodSeconds`, `must be a positive integer, got ${JSON.stringify(g)}`);
}

function checkOp(v: unknown, path: string): asserts v is Op {
  if (!isPlainObject(v)) fail(path, 'must be an object');
  const kind = v['op'];
  checkPrecondition(v['precondition'], `${path}.precondition`);
  switch (kind) {
    case 'create':
      onlyKeys(v, ['op', 'object', 'precondition'], path);
      checkObject(v['object'], `${path}.object`);
      if (v['precondition'] === 'exists') fail(`${path}.precondition`, 'create implies "notExists"');
      return;
    case 'update':
      onlyKeys(v, ['op', 'object', 'expectedResourceVersion', 'subresource', 'precondition'], path);
      checkObject(v['object'], `${path}.object`);
      checkResourceVersion(v['expectedResourceVersion'], `${path}.expectedResourceVersion`);
      if (v['subresource'] !== undefined && v['subresource'] !== 'status') fail(`${path}.subresource`, `must be "status", got ${JSON.stringify(v['subresource'])}`);
      if (v['precondition'] === 'notExists') fail(`${path}.precondition`, 'update implies "exists"');
      return;
    case 'delete':
      onlyKeys(v, ['op', 'ref', 'expectedResourceVersion', 'expectedUid', 'graceful', 'orphanDependents', 'precondition'], path);
      checkRef(v['ref'], `${path}.ref`);
      checkResourceVersion(v['expectedResourceVersion'], `${path}.expectedResourceVersion`);
      if (v['expectedUid'] !== undefined && (typeof v['expectedUid'] !== 'string' || v['expectedUid'] === '')) {
        fail(`${path}.expectedUid`, 'must be a non-empty string');
      }
      checkGraceful(v['graceful'], `${path}.graceful`);
      if (v['orphanDependents'] !== undefined && typeof v['orphanDependents'] !== 'boolean') fail(`${path}.orphanDependents`, 'must be a boolean');
      if (v['precondition'] === 'notExists') fail(`${path}.precondition`, 'delete implies "exists"');
      return;
    case 'check':
      onlyKeys(v, ['op', 'ref', 'expectedResourceVersion', 'precondition'], path);
      checkRef(v['ref'], `${path}.ref`);
      checkResourceVersion(v['expectedResourceVersion'], `${path}.expectedResourceVersion`);
      if (v['precondition'] === undefined && v['expectedResourceVersion'] === undefined) {
        fail(path, 'a check needs a precondition or an expectedResourceVersion');
      }
      if (v['precondition'] === 'notExists' && v['expectedResourceVersion'] !== undefined) {
        fail(path, 'precondition "notExists" contradicts expectedResourceVersion');
      }
      return;
    default:
      fail(`${path}.op`, `must be one of create, update, delete, check; got ${JSON.stringify(kind)}`);
  }
}

/** checkCommand checks the shape of a command; throws InvalidError naming the first bad field. */
export function checkCommand(v: unknown): asserts v is Command {
  if (!isPlainObject(v)) fail('command', 'must be an object');
  onlyKeys(v, ['requestId', 'ops'], 'command');
  const id = v['requestId'];
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > maxRequestIdLength)) {
    fail('requestId', `must be a string of 1 to ${maxRequestIdLength} characters`);
  }
  const ops = v['ops'];
  if (!Array.isArray(ops) || ops.length === 0) fail('ops', 'must be a non-empty array');
  if (ops.length > maxTxnOps) fail('ops', `has ${ops.length} ops, more than the limit of ${maxTxnOps}`);
  for (let i = 0; i < ops.length; i++) checkOp(ops[i], `ops[${i}]`);
}
