/**
 * Helpers over plain JSON values: structural equality (key order does not matter), deep
 * freezing and a canonical serialization (keys sorted by UTF-16 code units at every level).
 */

/** deepEqual tells whether two JSON values are equal; object key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const aIsArray = Array.isArray(a);
  if (aIsArray !== Array.isArray(b)) return false;
  if (aIsArray) {
    const x = a as readonly unknown[];
    const y = b as readonly unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const k of keys) {
    if (!Object.hasOwn(y, k) || !deepEqual(x[k], y[k])) return false;
  }
  return true;
}

/** deepFreeze freezes `v` and everything reachable from it, in place, and returns it. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    if (Array.isArray(v)) {
      for (const x of v) deepFreeze(x);
    } else {
      for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    }
  }
  return v;
}

/** compareStrings orders by UTF-16 code units: the same on every machine and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** canonicalJson serializes `v` with object keys sorted at every level (undefined members omitted). */
export function canonicalJson(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) s += ',';
      s += v[i] === undefined ? 'null' : canonicalJson(v[i]);
    }
    return s + ']';
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort(compareStrings);
  let s = '{';
  let first = true;
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    if (!first) s += ',';
    first = false;
    s += JSON.stringify(k) + ':' + canonicalJson(x);
  }
  return s + '}';
}
