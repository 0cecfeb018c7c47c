/**
 * Seeded pseudo-random numbers: the only source of randomness in the simulation.
 *
 * `Rng` is xoshiro128** (four 32-bit words of state, period 2^128 - 1), seeded through a
 * splitmix32-style mixer so that nearby seeds give unrelated streams. Independent streams
 * (network, faults, workload, one per member incarnation) are derived from the run's seed and
 * a label with {@link deriveSeed}, so adding draws to one stream never shifts another.
 *
 * Everything here is plain 32-bit integer arithmetic (`Math.imul`, `>>>`): the same seed gives
 * the same numbers on every platform and Node version.
 */

const TWO_POW_32 = 4294967296;

/** mix32 is a bijective 32-bit finaliser (xorshift-multiply rounds). */
export function mix32(x: number): number {
  let z = x | 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15;
  z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z >>> 0;
}

/** hashString is FNV-1a over the UTF-16 code units of `s`, finalised with {@link mix32}. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/**
 * deriveSeed turns a run seed (a non-negative safe integer) and a stream label into the
 * 32-bit seed of an independent stream.
 */
export function deriveSeed(seed: number, label: string): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  return mix32(mix32(lo ^ 0x9e3779b9) ^ mix32(hi + 0x7f4a7c15) ^ hashString(label));
}

/** Rng is a xoshiro128** generator. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** The 32-bit `seed32` is spread over the 128-bit state with a splitmix32 sequence. */
  constructor(seed32: number) {
    let x = seed32 >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      return mix32(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** forStream makes the generator of stream `label` of run `seed`. */
  static forStream(seed: number, label: string): Rng {
    return new Rng(deriveSeed(seed, label));
  }

  /** u32 returns the next 32-bit unsigned integer. */
  u32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** float returns a number in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.u32() / TWO_POW_32;
  }

  /** int returns an integer in [0, n); `n` must be a positive integer. */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.float() * n);
  }

  /** range returns an integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number {
    if (hi < lo) throw new Error(`Rng.range: empty range [${lo}, ${hi}]`);
    return lo + this.int(hi - lo + 1);
  }

  /** chance returns true with probability `p` (p <= 0: never, p >= 1: always, and no draw is made). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** pick returns a uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined && items.length === 0) throw new Error('Rng.pick: empty array');
    return item as T;
  }

  /** weighted returns the index chosen with probability proportional to `weights[i]`. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    if (!(total > 0)) throw new Error('Rng.weighted: weights must have a positive sum');
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
