// schema.ts: a small declarative schema layer. A schema says what shape a value must have;
// `checkValue` walks a value against it and reports every problem with its path:
//
//   spec.template.spec.containers[0].imagee: unknown field
//   spec.replicas: expected integer, got string
//   metadata.name: required
//   spec.replicas: must be >= 0
//
// Objects are closed: a key the schema does not name is an unknown field. A null field of an
// object counts as absent (kubectl writes `creationTimestamp: null`).
//
// A node's `check` reports semantic problems (uniqueness, cross-field rules) through a
// Reporter. The check of an object, map or array runs whenever the node itself has that type,
// so one pass shows shape and semantic problems together; a scalar's check runs only on a valid
// value. Checks must tolerate wrong shapes below their node: if one throws while shape problems
// were found under the node, the exception is dropped (those problems explain it); if it throws
// on a well-shaped value, that is a bug and the exception propagates.

import type { ValidationIssue } from './errors.ts';
import type { FormatCheck } from './names.ts';
import { percent } from './names.ts';
import { quantityProblem } from './quantity.ts';

export type PathSegment = string | number;

/** Reporter records problems at a path; `at` narrows to a path below it. */
export interface Reporter {
  error(message: string): void;
  at(...segments: PathSegment[]): Reporter;
}

// The checked value's type is not known to the schema; a check declares what it expects.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Check = (value: any, r: Reporter) => void;

interface Base {
  readonly check?: Check | undefined;
}

export interface Field {
  readonly schema: Schema;
  readonly required: boolean;
}

export interface ObjectSchema extends Base {
  readonly type: 'object';
  readonly fields: Readonly<Record<string, Field>>;
}

export interface MapSchema extends Base {
  readonly type: 'map';
  readonly keys?: FormatCheck | undefined;
  readonly values: Schema;
}

export interface ArraySchema extends Base {
  readonly type: 'array';
  readonly items: Schema;
  readonly minItems?: number | undefined;
  /** Message when there are fewer than minItems items. */
  readonly minItemsMessage?: string | undefined;
}

export interface StringSchema extends Base {
  readonly type: 'string';
  readonly format?: FormatCheck | undefined;
  readonly enum?: readonly string[] | undefined;
  readonly minLength?: number | undefined;
  readonly maxLength?: number | undefined;
  /** sensitive: a value never quoted in messages (a Secret's values). */
  readonly sensitive?: boolean | undefined;
}

export interface IntegerSchema extends Base {
  readonly type: 'integer';
  readonly min?: number | undefined;
  readonly max?: number | undefined;
}

export interface BooleanSchema extends Base {
  readonly type: 'boolean';
}

/** An integer, or a string in `format` (a port name); `percent` allows "25%" strings. */
export interface IntOrStringSchema extends Base {
  readonly type: 'intOrString';
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly format: FormatCheck;
}

/** A resource quantity, as a string or a number. */
export interface QuantitySchema extends Base {
  readonly type: 'quantity';
  readonly nonNegative: boolean;
}

export type Schema =
  | ObjectSchema
  | MapSchema
  | ArraySchema
  | StringSchema
  | IntegerSchema
  | BooleanSchema
  | IntOrStringSchema
  | QuantitySchema;

// ---------------------------------------------------------------------------------------------
// Builders

/** INT32_MAX: the largest value of Kubernetes int32 fields. */
export const INT32_MAX = 2147483647;

export function required(schema: Schema): Field {
  return { schema, required: true };
}

export function object(fields: Record<string, Schema | Field>, check?: Check): ObjectSchema {
  const out: Record<string, Field> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = 'schema' in v ? v : { schema: v, required: false };
  return { type: 'object', fields: out, check };
}

export function map(values: Schema, opts: { keys?: FormatCheck; check?: Check } = {}): MapSchema {
  return { type: 'map', values, keys: opts.keys, check: opts.check };
}

export function array(items: Schema, opts: { minItems?: number; minItemsMessage?: string; check?: Check } = {}): ArraySchema {
  return { type: 'array', items, minItems: opts.minItems, minItemsMessage: opts.minItemsMessage, check: opts.check };
}

export function string(
  opts: { format?: FormatCheck; enum?: readonly string[]; minLength?: number; maxLength?: number; sensitive?: boolean; check?: Check } = {},
): StringSchema {
  return { type: 'string', ...opts };
}

export function integer(opts: { min?: number; max?: number; check?: Check } = {}): IntegerSchema {
  return { type: 'integer', min: opts.min, max: opts.max ?? INT32_MAX, check: opts.check };
}

export function boolean(): BooleanSchema {
  return { type: 'boolean' };
}

export function intOrString(format: FormatCheck, opts: { min?: number; max?: number; check?: Check } = {}): IntOrStringSchema {
  return { type: 'intOrString', format, min: opts.min, max: opts.max ?? INT32_MAX, check: opts.check };
}

/** intOrPercent: an integer or a percentage string such as "25%". */
export function intOrPercent(opts: { check?: Check } = {}): IntOrStringSchema {
  return intOrString(percent, { min: 0, ...opts });
}

export function quantity(opts: { nonNegative?: boolean } = {}): QuantitySchema {
  return { type: 'quantity', nonNegative: opts.nonNegative ?? true };
}

/** withCheck returns `schema` with an extra check run after its own. */
export function withCheck<S extends Schema>(schema: S, check: Check): S {
  const prior = schema.check;
  return {
    ...schema,
    check: prior === undefined ? check : (v: unknown, r: Reporter) => (prior(v, r), check(v, r)),
  };
}

// ---------------------------------------------------------------------------------------------
// Paths and messages

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** formatPath spells a path: `spec.containers[0].name`, `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT_RE.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** quote shows a string value in a message, shortened when long. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.floor(key.length / 3)) ? best : undefined;
}

// Kubernetes fields that tugboat knowingly does not support, so the message can say so rather
// than suggest a near name. Only names that no tugboat schema uses anywhere belong here.
const UNSUPPORTED_KUBERNETES_FIELDS: ReadonlySet<string> = new Set([
  'activeDeadlineSeconds',
  'allocateLoadBalancerNodePorts',
  'appProtocol',
  'automountServiceAccountToken',
  'dnsConfig',
  'dnsPolicy',
  'downwardAPI',
  'enableServiceLinks',
  'ephemeralContainers',
  'externalIPs',
  'externalName',
  'externalTrafficPolicy',
  'hostAliases',
  'hostIPC',
  'hostNetwork',
  'hostPID',
  'imagePullSecrets',
  'initContainers',
  'internalTrafficPolicy',
  'ipFamilies',
  'ipFamilyPolicy',
  'lifecycle',
  'loadBalancerIP',
  'managedFields',
  'nfs',
  'persistentVolumeClaim',
  'podAffinity',
  'preemptionPolicy',
  'priority',
  'priorityClassName',
  'projected',
  'publishNotReadyAddresses',
  'readinessGates',
  'runtimeClassName',
  'schedulerName',
  'securityContext',
  'selfLink',
  'serviceAccount',
  'serviceAccountName',
  'sessionAffinity',
  'shareProcessNamespace',
  'startupProbe',
  'stdin',
  'subdomain',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'tty',
]);

function unknownFieldMessage(key: string, known: readonly string[]): string {
  if (UNSUPPORTED_KUBERNETES_FIELDS.has(key)) return 'unknown field (a Kubernetes field that tugboat does not support)';
  const hint = suggest(key, known);
  return hint === undefined ? 'unknown field' : `unknown field (did you mean "${hint}"?)`;
}

// ---------------------------------------------------------------------------------------------
// The walker

class Collector implements Reporter {
  readonly path: readonly PathSegment[];
  readonly out: ValidationIssue[];

  constructor(path: readonly PathSegment[], out: ValidationIssue[]) {
    this.path = path;
    this.out = out;
  }

  error(message: string): void {
    this.out.push({ path: formatPath(this.path), message });
  }

  at(...segments: PathSegment[]): Reporter {
    return new Collector([...this.path, ...segments], this.out);
  }
}

/** reporterFor returns a Reporter that appends to `out`, rooted at `path`. */
export function reporterFor(out: ValidationIssue[], path: readonly PathSegment[] = []): Reporter {
  return new Collector(path, out);
}

/**
 * checkValue walks `value` against `schema` and appends every problem to `out`, with paths
 * under `path`. Returns true when it found none.
 */
export function checkValue(schema: Schema, value: unknown, path: readonly PathSegment[], out: ValidationIssue[]): boolean {
  const before = out.length;
  const r = new Collector(path, out);
  walk(schema, value, r);
  const shapeProblems = out.length - before;
  if (schema.check !== undefined && (shapeProblems === 0 || hasContainerType(schema, value))) {
    try {
      schema.check(value, r);
    } catch (e) {
      if (shapeProblems === 0) throw e;
    }
  }
  return out.length === before;
}

// Checks of objects, maps and arrays run when the value has that type, whatever is below it;
// checks of scalars run only on valid values.
function hasContainerType(schema: Schema, value: unknown): boolean {
  switch (schema.type) {
    case 'object':
    case 'map':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    default:
      return false;
  }
}

function walk(schema: Schema, value: unknown, r: Collector): void {
  switch (schema.type) {
    case 'object': {
      if (!isPlainObject(value)) return r.error(`expected object, got ${typeName(value)}`);
      const known = Object.keys(schema.fields);
      for (const [key, v] of Object.entries(value)) {
        const field = schema.fields[key];
        if (field === undefined || !Object.hasOwn(schema.fields, key)) {
          r.at(key).error(unknownFieldMessage(key, known));
          continue;
        }
        if (v === null || v === undefined) continue;
        checkValue(field.schema, v, [...r.path, key], r.out);
      }
      for (const [key, field] of Object.entries(schema.fields)) {
        if (field.required && (value[key] === undefined || value[key] === null)) r.at(key).error('required');
      }
      return;
    }
    case 'map': {
      if (!isPlainObject(value)) return r.error(`expected object, got ${typeName(value)}`);
      for (const [key, v] of Object.entries(value)) {
        if (schema.keys !== undefined) {
          const problem = schema.keys(key);
          if (problem !== undefined) r.at(key).error(`invalid key ${quote(key)}: ${problem}`);
        }
        checkValue(schema.values, v, [...r.path, key], r.out);
      }
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) return r.error(`expected array, got ${typeName(value)}`);
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        r.error(schema.minItemsMessage ?? (schema.minItems === 1 ? 'must not be empty' : `must have at least ${schema.minItems} items`));
      }
      value.forEach((item, i) => checkValue(schema.items, item, [...r.path, i], r.out));
      return;
    }
    case 'string': {
      if (typeof value !== 'string') return r.error(`expected string, got ${typeName(value)}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        return r.error(schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters`);
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        return r.error(`must be at most ${schema.maxLength} characters`);
      }
      if (schema.enum !== undefined && !schema.enum.includes(value)) {
        return r.error(`invalid value ${quote(value)}: must be one of ${schema.enum.map((e) => (e === '' ? '""' : e)).join(', ')}`);
      }
      if (schema.format !== undefined) {
        const problem = schema.format(value);
        if (problem !== undefined) r.error(`invalid value${schema.sensitive === true ? '' : ` ${quote(value)}`}: ${problem}`);
      }
      return;
    }
    case 'integer': {
      if (typeof value !== 'number') return r.error(`expected integer, got ${typeName(value)}`);
      if (!Number.isInteger(value)) return r.error(`expected integer, got ${value}`);
      return checkRange(value, schema.min, schema.max, r);
    }
    case 'boolean': {
      if (typeof value !== 'boolean') r.error(`expected boolean, got ${typeName(value)}`);
      return;
    }
    case 'intOrString': {
      if (typeof value === 'number') {
        if (!Number.isInteger(value)) return r.error(`expected integer or string, got ${value}`);
        return checkRange(value, schema.min, schema.max, r);
      }
      if (typeof value !== 'string') return r.error(`expected integer or string, got ${typeName(value)}`);
      const problem = schema.format(value);
      if (problem !== undefined) r.error(`invalid value ${quote(value)}: ${problem}`);
      return;
    }
    case 'quantity': {
      if (typeof value !== 'string' && typeof value !== 'number') {
        return r.error(`expected quantity (string or number), got ${typeName(value)}`);
      }
      const problem = quantityProblem(value);
      if (problem !== undefined) return r.error(problem);
      if (schema.nonNegative && (typeof value === 'number' ? value < 0 : value.trim().startsWith('-'))) {
        r.error(`invalid quantity ${typeof value === 'string' ? quote(value) : value}: must not be negative`);
      }
      return;
    }
  }
}

function checkRange(value: number, min: number | undefined, max: number | undefined, r: Reporter): void {
  // "between" only for explicit bounds: the implicit int32 and safe-integer maxima read better as ">= min".
  if (min !== undefined && max !== undefined && max < INT32_MAX && (value < min || value > max)) {
    return r.error(`must be between ${min} and ${max}`);
  }
  if (min !== undefined && value < min) return r.error(`must be >= ${min}`);
  if (max !== undefined && value > max) return r.error(`must be <= ${max}`);
}

// ---------------------------------------------------------------------------------------------
// Normalizing

/**
 * normalizeValue returns a copy of `value` with null fields of objects removed (they mean
 * "absent") and quantities given as numbers turned into strings (`cpu: 2` -> "2"). Parts that do
 * not fit the schema are copied unchanged, for validation to report.
 */
export function normalizeValue(schema: Schema, value: unknown): unknown {
  switch (schema.type) {
    case 'object': {
      if (!isPlainObject(value)) return copyOf(value);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (v === null || v === undefined) continue;
        const field = Object.hasOwn(schema.fields, k) ? schema.fields[k] : undefined;
        out[k] = field === undefined ? copyOf(v) : normalizeValue(field.schema, v);
      }
      return out;
    }
    case 'map': {
      if (!isPlainObject(value)) return copyOf(value);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = normalizeValue(schema.values, v);
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((item) => normalizeValue(schema.items, item)) : copyOf(value);
    case 'quantity':
      return typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
    default:
      return copyOf(value);
  }
}

/** copyOf copies what does not fit the schema; a primitive is its own copy (structuredClone
 *  of one costs as much as of a small object, and admission meets thousands per second). */
function copyOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? structuredClone(value) : value;
}
