import { createHash, type Hash } from 'node:crypto';

/** TRACE_TAIL_LINES_MAX is how many of the latest trace lines a run keeps for a failure report. */
export const TRACE_TAIL_LINES_MAX = 200;

const HASH_CHUNK_CHARS_MAX = 1 << 16;

/**
 * Trace records every event of a run as one compact line ("<step> <member> <what>").
 *
 * All lines feed a SHA-256 (so a run is identified by its hash); only the latest
 * {@link TRACE_TAIL_LINES_MAX} are kept, in a ring, for failure reports. Lines are batched
 * before hashing to keep the cost per line small.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly ring: string[] = [];
  private ringNext = 0;
  private pending = '';
  private digest: string | null = null;
  private readonly onLine: ((line: string) => void) | null;
  /** Number of lines recorded so far. */
  lines = 0;

  /** `onLine`, when given, sees every line as it is recorded (verbose mode). */
  constructor(onLine: ((line: string) => void) | null = null) {
    this.onLine = onLine;
  }

  add(line: string): void {
    if (this.digest !== null) throw new Error('trace: line added after the hash was taken');
    this.lines++;
    if (this.ring.length < TRACE_TAIL_LINES_MAX) this.ring.push(line);
    else this.ring[this.ringNext] = line;
    this.ringNext = (this.ringNext + 1) % TRACE_TAIL_LINES_MAX;
    this.pending += line;
    this.pending += '\n';
    if (this.pending.length >= HASH_CHUNK_CHARS_MAX) {
      this.hash.update(this.pending);
      this.pending = '';
    }
    if (this.onLine !== null) this.onLine(line);
  }

  /** tail returns the latest lines, oldest first. */
  tail(): string[] {
    if (this.ring.length < TRACE_TAIL_LINES_MAX) return [...this.ring];
    return [...this.ring.slice(this.ringNext), ...this.ring.slice(0, this.ringNext)];
  }

  /** sha256 finishes the trace and returns its hex digest; later calls return the same digest. */
  sha256(): string {
    if (this.digest === null) {
      this.hash.update(this.pending);
      this.pending = '';
      this.digest = this.hash.digest('hex');
    }
    return this.digest;
  }
}
