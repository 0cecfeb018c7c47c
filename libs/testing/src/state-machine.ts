import type { Entry } from '@tugboat/raft';

/** SM_RECENT_COMMANDS_MAX is how many of the latest commands a state machine (and its snapshot) keeps. */
export const SM_RECENT_COMMANDS_MAX = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** commandBytes encodes a workload command (ASCII text) as entry data. */
export function commandBytes(command: string): Uint8Array {
  return encoder.encode(command);
}

/** dataKey renders entry data as a string that is equal exactly when the bytes are equal. */
export function dataKey(data: Uint8Array): string {
  let s = '';
  for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]!);
  return s;
}

/**
 * SimStateMachine is the application of a simulated member: it folds every committed entry
 * (index, term, kind, data; no-ops and conf entries too) into a running 64-bit hash, so two
 * state machines at the same applied index agree exactly when they applied the same entries.
 * It also counts commands and keeps the latest few. Its snapshot is that state as JSON.
 */
export class SimStateMachine {
  applied = 0;
  appliedTerm = 0;
  h1 = 0;
  h2 = 0;
  commands = 0;
  recent: string[] = [];

  apply(e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new Error(`state machine: applying index ${e.index} after ${this.applied}`);
    }
    let a = this.h1 ^ 0x2545f491;
    let b = this.h2 ^ 0x9e3779b9;
    const fold = (x: number): void => {
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul((b + x) ^ (b >>> 13), 0x5bd1e995);
    };
    fold(e.index >>> 0);
    fold(Math.floor(e.index / 4294967296));
    fold(e.term >>> 0);
    fold(e.kind === 'conf' ? 2 : 1);
    fold(e.data.length);
    for (let i = 0; i < e.data.length; i++) fold(e.data[i]!);
    a ^= a >>> 15;
    a = Math.imul(a, 0x735a2d97);
    a ^= a >>> 13;
    b ^= (b >>> 16) ^ a;
    b = Math.imul(b, 0x21f0aaad);
    b ^= b >>> 15;
    this.h1 = a >>> 0;
    this.h2 = b >>> 0;
    this.applied = e.index;
    this.appliedTerm = e.term;
    if (e.kind === 'normal' && e.data.length > 0) {
      this.commands++;
      this.recent.push(decoder.decode(e.data));
      if (this.recent.length > SM_RECENT_COMMANDS_MAX) this.recent.shift();
    }
  }

  snapshot(): Uint8Array {
    return encoder.encode(
      JSON.stringify({ i: this.applied, t: this.appliedTerm, h1: this.h1, h2: this.h2, n: this.commands, recent: this.recent }),
    );
  }

  /** restore discards all state in favour of a snapshot's; it throws on malformed data. */
  restore(data: Uint8Array): void {
    const v = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
    const num = (k: string): number => {
      const x = v[k];
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new Error(`state machine snapshot: bad ${k}`);
      return x;
    };
    const recent = v['recent'];
    if (!Array.isArray(recent) || !recent.every((c) => typeof c === 'string')) throw new Error('state machine snapshot: bad recent');
    this.applied = num('i');
    this.appliedTerm = num('t');
    this.h1 = num('h1');
    this.h2 = num('h2');
    this.commands = num('n');
    this.recent = recent as string[];
  }
}
