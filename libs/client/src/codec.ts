// codec.ts: objects travel as UTF-8 JSON bytes; revisions as uint64 (bigint here, number to users).
import { formatSelector } from '@tugboat/api';
import type { LabelSelector } from '@tugboat/api';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** encodeObject writes an object as UTF-8 JSON. */
export function encodeObject(obj: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(obj));
}

/** decodeObject reads UTF-8 JSON bytes; empty bytes read as undefined. */
export function decodeObject<T>(bytes: Uint8Array): T | undefined {
  if (bytes.length === 0) return undefined;
  return JSON.parse(decoder.decode(bytes)) as T;
}

/** revisionNumber turns a uint64 revision into a number (exact up to 2^53). */
export function revisionNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`revision ${v} is beyond 2^53`);
  return Number(v);
}

/** parseRevision reads a revision given as a number or a resourceVersion string. */
export function parseRevision(v: number | string): number {
  const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`invalid revision ${JSON.stringify(v)}: expected a non-negative integer`);
  return n;
}

/** selectorText writes a label selector given as text or as a LabelSelector object. */
export function selectorText(sel: string | LabelSelector | undefined): string {
  if (sel === undefined) return '';
  return typeof sel === 'string' ? sel : formatSelector(sel);
}
