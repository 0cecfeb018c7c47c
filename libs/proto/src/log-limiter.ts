// log-limiter.ts: keeps a flood of bad requests (refused calls, malformed Raft messages) from
// flooding the log.

/**
 * LogLimiter lets through at most one log line per key per interval and counts the rest, so a
 * flood of bad messages cannot flood the log. `check` returns undefined to suppress, or the
 * number of lines suppressed since the last one let through.
 */
export class LogLimiter {
  private readonly intervalMs: number;
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();
  private readonly now: () => number;

  constructor(intervalMs: number, now: () => number = () => performance.now()) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  check(key: string): number | undefined {
    const t = this.now();
    const st = this.last.get(key);
    if (st !== undefined && t - st.atMs < this.intervalMs) {
      st.suppressed++;
      return undefined;
    }
    if (this.last.size > 10_000) this.last.clear(); // bound memory under a flood of distinct keys
    const suppressed = st?.suppressed ?? 0;
    this.last.set(key, { atMs: t, suppressed: 0 });
    return suppressed;
  }
}
