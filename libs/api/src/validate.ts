// validate.ts: validation of whole objects: kind and apiVersion, the kind's schema (shape and
// semantic checks, from schemas.ts), metadata rules that depend on the kind's scope, and the
// rules for updates (immutable fields).

import { ApiValidationError } from './errors.ts';
import type { ValidationIssue } from './errors.ts';
import { KINDS, isKind, kindInfo, knownKindsText } from './kinds.ts';
import { checkValue, quote, typeName } from './schema.ts';
import { KIND_SCHEMAS, labelSelectorSchema } from './schemas.ts';
import type { ApiObject, Kind } from './types.ts';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * validate checks an object (as parsed from a manifest, or as about to be stored) and returns
 * every problem found, each with the path of the field: unknown kind, wrong apiVersion, unknown
 * fields, wrong types, missing required fields, invalid values, and the semantic rules of the
 * kind. An empty list means the object is valid. `status` is checked for shape like the rest.
 *
 * Shape and semantic problems are reported together; a semantic rule that cannot be evaluated
 * because a field it reads has the wrong shape is skipped, so fixing shape errors can reveal
 * more problems.
 */
export function validate(obj: unknown): ValidationIssue[] {
  if (!isPlainObject(obj)) return [{ path: '', message: `expected an object, got ${typeName(obj)}` }];
  const out: ValidationIssue[] = [];
  const kind = obj['kind'];
  if (kind === undefined || kind === null || kind === '') {
    out.push({ path: 'kind', message: 'required' });
    if (obj['apiVersion'] === undefined || obj['apiVersion'] === null) out.push({ path: 'apiVersion', message: 'required' });
    return out;
  }
  if (typeof kind !== 'string') return [{ path: 'kind', message: `expected string, got ${typeName(kind)}` }];
  if (!isKind(kind)) {
    const near = KINDS.find((k) => k.kind.toLowerCase() === kind.toLowerCase() || k.plural === kind.toLowerCase());
    const hint = near === undefined ? '' : ` (did you mean "${near.kind}"?)`;
    return [{ path: 'kind', message: `unknown kind ${quote(kind)}${hint}; known kinds: ${knownKindsText()}` }];
  }
  const info = kindInfo(kind);
  const apiVersion = obj['apiVersion'];
  if (apiVersion === undefined || apiVersion === null || apiVersion === '') {
    out.push({ path: 'apiVersion', message: `required (${kind} is ${info.apiVersion})` });
  } else if (typeof apiVersion === 'string' && apiVersion !== info.apiVersion) {
    out.push({ path: 'apiVersion', message: `invalid value ${quote(apiVersion)}: ${kind} is served as ${info.apiVersion}` });
  }

  checkValue(KIND_SCHEMAS[kind], obj, [], out);

  const meta = obj['metadata'];
  if (isPlainObject(meta)) {
    if (!meta['name'] && !meta['generateName']) out.push({ path: 'metadata.name', message: 'required (or set metadata.generateName)' });
    if (!info.namespaced && meta['namespace']) {
      out.push({ path: 'metadata.namespace', message: `not allowed: ${kind} is cluster-scoped` });
    }
  }
  return out;
}

/**
 * validateOrThrow returns `obj` typed as an ApiObject when it is valid, and otherwise throws an
 * ApiValidationError listing every problem as `Kind/name: path: message`.
 */
export function validateOrThrow(obj: unknown): ApiObject {
  const issues = validate(obj);
  if (issues.length > 0) throw validationError(obj, issues);
  return obj as ApiObject;
}

/** validationError builds the ApiValidationError for `obj` and its issues. */
export function validationError(obj: unknown, issues: readonly ValidationIssue[]): ApiValidationError {
  const o = isPlainObject(obj) ? obj : {};
  const meta = isPlainObject(o['metadata']) ? o['metadata'] : {};
  const name = str(meta['name']) || (str(meta['generateName']) ? `${str(meta['generateName'])}*` : '');
  return new ApiValidationError(str(o['kind']), name, issues);
}

/** validateLabelSelector checks a LabelSelector object; paths are relative to it. */
export function validateLabelSelector(selector: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  checkValue(labelSelectorSchema, selector, [], out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Updates

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function get(obj: unknown, ...path: (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/**
 * validateUpdate checks `next` as validate does, plus the rules for replacing `prev` with it:
 * kind, name, namespace, uid and creationTimestamp do not change; a Deployment's or ReplicaSet's
 * selector does not change; a Service's clusterIP does not change once set; a Node's podCIDR
 * does not change once set; a Pod's spec changes only in container images, added tolerations
 * and a nodeName set for the first time (binding); an immutable ConfigMap or Secret does not
 * change its data or become mutable; a Secret's type does not change. Both objects should be
 * defaulted (applyDefaults) so that defaults do not read as changes.
 */
export function validateUpdate(prev: ApiObject, next: unknown): ValidationIssue[] {
  const out = validate(next);
  if (!isPlainObject(next)) return out;
  const immutable = (path: string, a: unknown, b: unknown) => {
    if (!same(a, b)) out.push({ path, message: 'field is immutable' });
  };
  if (next['kind'] !== prev.kind) {
    out.push({ path: 'kind', message: `field is immutable (was ${prev.kind})` });
    return out;
  }
  const kind: Kind = prev.kind;
  immutable('metadata.name', get(next, 'metadata', 'name'), prev.metadata.name);
  immutable('metadata.namespace', get(next, 'metadata', 'namespace'), prev.metadata.namespace);
  const uid = get(next, 'metadata', 'uid');
  if (uid !== undefined && prev.metadata.uid !== undefined) immutable('metadata.uid', uid, prev.metadata.uid);
  const created = get(next, 'metadata', 'creationTimestamp');
  if (created !== undefined && prev.metadata.creationTimestamp !== undefined) {
    immutable('metadata.creationTimestamp', created, prev.metadata.creationTimestamp);
  }

  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
      immutable('spec.selector', get(next, 'spec', 'selector'), get(prev, 'spec', 'selector'));
      break;
    case 'Service': {
      const before = get(prev, 'spec', 'clusterIP');
      const after = get(next, 'spec', 'clusterIP');
      // An update that leaves clusterIP out (or empty) keeps the allocated one.
      if (before && after !== undefined && after !== '' && after !== before) out.push({ path: 'spec.clusterIP', message: 'field is immutable once set' });
      break;
    }
    case 'Node': {
      const before = get(prev, 'spec', 'podCIDR');
      if (before && get(next, 'spec', 'podCIDR') !== before) out.push({ path: 'spec.podCIDR', message: 'field is immutable once set' });
      break;
    }
    case 'Pod':
      checkPodSpecUpdate(get(prev, 'spec'), get(next, 'spec'), out);
      break;
    case 'ConfigMap':
    case 'Secret':
      if (get(prev, 'immutable') === true) {
        immutable('immutable', get(next, 'immutable'), true);
        immutable('data', get(next, 'data'), get(prev, 'data'));
        if (kind === 'ConfigMap') immutable('binaryData', get(next, 'binaryData'), get(prev, 'binaryData'));
        else if (get(next, 'stringData') !== undefined) out.push({ path: 'stringData', message: 'field is immutable' });
      }
      if (kind === 'Secret') immutable('type', get(next, 'type'), get(prev, 'type'));
      break;
    default:
      break;
  }
  return out;
}

/** withoutImages is a shallow copy of a pod spec whose containers (copied too) have no image: images may change. */
function withoutImages(spec: Record<string, unknown>): Record<string, unknown> {
  const containers = spec['containers'];
  if (!Array.isArray(containers)) return { ...spec };
  return {
    ...spec,
    containers: containers.map((c: unknown) => {
      if (!isPlainObject(c)) return c;
      const { image: _, ...rest } = c;
      return rest;
    }),
  };
}

function checkPodSpecUpdate(prev: unknown, next: unknown, out: ValidationIssue[]): void {
  if (!isPlainObject(prev) || !isPlainObject(next)) return;
  // Shallow copies: only top-level keys and the containers' images are taken out below.
  const a = withoutImages(prev);
  const b = withoutImages(next);
  // nodeName may be set once.
  if (!a['nodeName']) delete b['nodeName'];
  else if (b['nodeName'] !== a['nodeName']) out.push({ path: 'spec.nodeName', message: 'field is immutable once set' });
  delete a['nodeName'];
  delete b['nodeName'];
  // Tolerations may be added, not removed or changed.
  const before = Array.isArray(a['tolerations']) ? a['tolerations'] : [];
  const after = Array.isArray(b['tolerations']) ? b['tolerations'] : [];
  if (!before.every((t) => after.some((u) => same(t, u)))) {
    out.push({ path: 'spec.tolerations', message: 'existing tolerations cannot be removed or changed' });
  }
  delete a['tolerations'];
  delete b['tolerations'];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!same(a[key], b[key])) {
      out.push({ path: `spec.${key}`, message: 'field is immutable (a pod may change only container images, tolerations added, and nodeName once)' });
    }
  }
}
