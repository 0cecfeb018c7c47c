// quantity.ts: Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3").
//
// Grammar: optional sign, a decimal number ("1", "1.5", "1.", ".5"), then one optional suffix:
// binary (Ki Mi Gi Ti Pi Ei: powers of 1024), decimal (n u m k M G T P E: powers of 1000), or an
// exponent (e3, E-2). Parsing is exact (bigint); results round up, as Kubernetes does.

import { QuantityError } from './errors.ts';

/** ParsedQuantity: a quantity in whole units and in thousandths, each rounded up. */
export interface ParsedQuantity {
  /** Whole base units, rounded up: bytes for memory, cores for cpu ("128Mi" -> 134217728, "100m" -> 1). */
  readonly value: number;
  /** Thousandths of the base unit, rounded up: millicores for cpu ("100m" -> 100, "0.5" -> 500). */
  readonly milliValue: number;
}

const QUANTITY_TEXT_LENGTH_MAX = 64;
const EXPONENT_ABS_MAX = 30;

const BINARY: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

/** Exact form of a quantity: sign * mantissa * 10^exp10 * 2^exp2. */
interface Exact {
  readonly negative: boolean;
  readonly mantissa: bigint;
  readonly exp10: number;
  readonly exp2: number;
}

/** quantityProblem returns why `value` is not a quantity, or undefined when it is one. */
export function quantityProblem(value: string | number): string | undefined {
  try {
    toExact(value);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function describe(value: string | number): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value) : String(value);
}

function toExact(value: string | number): Exact {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new QuantityError(`invalid quantity ${describe(value)}: not a finite number`);
    // Numbers spell without exponent up to 1e21; beyond that String() uses e-notation, which parses too.
    text = String(value);
  } else {
    text = value.trim();
  }
  if (text.length === 0) throw new QuantityError('invalid quantity "": empty');
  if (text.length > QUANTITY_TEXT_LENGTH_MAX) {
    throw new QuantityError(`invalid quantity ${describe(value)}: longer than ${QUANTITY_TEXT_LENGTH_MAX} characters`);
  }
  const m = QUANTITY_RE.exec(text);
  if (m === null) {
    throw new QuantityError(
      `invalid quantity ${describe(value)}: expected a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, Ti, e3), such as 100m, 0.5, 128Mi or 1G`,
    );
  }
  const sign = m[1] ?? '';
  const num = m[2] ?? '';
  const suffix = m[3] ?? '';
  const dot = num.indexOf('.');
  const intPart = dot < 0 ? num : num.slice(0, dot);
  const fracPart = dot < 0 ? '' : num.slice(dot + 1);
  const mantissa = BigInt((intPart + fracPart).replace(/^0+(?=\d)/, '') || '0');
  let exp10 = -fracPart.length;
  let exp2 = 0;
  const bin = BINARY[suffix];
  const dec = DECIMAL[suffix];
  if (bin !== undefined) {
    exp2 = bin;
  } else if (dec !== undefined) {
    exp10 += dec;
  } else {
    const e = Number(suffix.slice(1));
    if (!Number.isSafeInteger(e) || Math.abs(e) > EXPONENT_ABS_MAX) {
      throw new QuantityError(`invalid quantity ${describe(value)}: exponent must be between -${EXPONENT_ABS_MAX} and ${EXPONENT_ABS_MAX}`);
    }
    exp10 += e;
  }
  return { negative: sign === '-' && mantissa !== 0n, mantissa, exp10, exp2 };
}

/** Exact value scaled by 10^scale10, rounded up (toward +infinity). */
function scaledCeil(q: Exact, scale10: number): bigint {
  let n = q.mantissa * (1n << BigInt(q.exp2));
  const e = q.exp10 + scale10;
  if (e >= 0) {
    n *= 10n ** BigInt(e);
    return q.negative ? -n : n;
  }
  const d = 10n ** BigInt(-e);
  const whole = n / d;
  const rem = n % d;
  if (q.negative) return -whole;
  return rem === 0n ? whole : whole + 1n;
}

function toSafeNumber(n: bigint, value: string | number): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new QuantityError(`invalid quantity ${describe(value)}: too large`);
  }
  return Number(n);
}

/**
 * parseQuantity parses a quantity (text, or a number as YAML gives for `cpu: 2`) and returns it
 * in whole units and in thousandths, both rounded up. Throws a QuantityError quoting the value
 * when it does not parse, or when its thousandths exceed Number.MAX_SAFE_INTEGER.
 */
export function parseQuantity(value: string | number): ParsedQuantity {
  const q = toExact(value);
  const milliValue = toSafeNumber(scaledCeil(q, 3), value);
  return { value: toSafeNumber(scaledCeil(q, 0), value), milliValue };
}

/** cpuMillis parses a CPU quantity into millicores, rounded up: "100m" -> 100, "0.5" -> 500, 2 -> 2000. */
export function cpuMillis(value: string | number): number {
  return parseQuantity(value).milliValue;
}

/** memoryBytes parses a memory (or storage) quantity into bytes, rounded up: "128Mi" -> 134217728, "1G" -> 1e9. */
export function memoryBytes(value: string | number): number {
  const q = toExact(value);
  return toSafeNumber(scaledCeil(q, 0), value);
}

/** compareQuantities compares two quantities exactly: negative, zero or positive as a <, =, > b. */
export function compareQuantities(a: string | number, b: string | number): number {
  const qa = toExact(a);
  const qb = toExact(b);
  // Scale both to a common exact integer: shift out the most negative decimal exponent.
  const scale = -Math.min(qa.exp10, qb.exp10, 0);
  const ea = exactScaled(qa, scale);
  const eb = exactScaled(qb, scale);
  return ea < eb ? -1 : ea > eb ? 1 : 0;
}

function exactScaled(q: Exact, scale10: number): bigint {
  const n = q.mantissa * (1n << BigInt(q.exp2)) * 10n ** BigInt(q.exp10 + scale10);
  return q.negative ? -n : n;
}

/**
 * formatQuantity spells `value` (base units) as a quantity. "BinarySI" uses the largest of Ki..Ei
 * that divides it exactly; "DecimalSI" (the default) the largest of k..E. Fractions are
 * written in thousandths ("m"), rounded up. Plain digits when no suffix divides exactly.
 */
export function formatQuantity(value: number, format: 'DecimalSI' | 'BinarySI' = 'DecimalSI'): string {
  if (!Number.isFinite(value)) throw new QuantityError(`formatQuantity: ${value} is not a finite number`);
  if (!Number.isInteger(value)) return formatMilliQuantity(Math.ceil(Math.round(value * 1e6) / 1e3));
  if (value === 0) return '0';
  const n = BigInt(value);
  const abs = n < 0n ? -n : n;
  if (format === 'BinarySI') {
    for (const [suffix, bits] of Object.entries(BINARY).reverse()) {
      const unit = 1n << BigInt(bits);
      if (abs % unit === 0n) return `${n / unit}${suffix}`;
    }
    return String(n);
  }
  for (const [suffix, exp] of Object.entries(DECIMAL).reverse()) {
    if (exp <= 0) break;
    const unit = 10n ** BigInt(exp);
    if (abs % unit === 0n) return `${n / unit}${suffix}`;
  }
  return String(n);
}

/** formatMilliQuantity spells a value given in thousandths: 100 -> "100m", 2000 -> "2", 1500 -> "1500m". */
export function formatMilliQuantity(milliValue: number): string {
  if (!Number.isSafeInteger(milliValue)) throw new QuantityError(`formatMilliQuantity: ${milliValue} is not a safe integer`);
  if (milliValue % 1000 === 0) return formatQuantity(milliValue / 1000, 'DecimalSI');
  return `${milliValue}m`;
}
