// figures.ts: the figures a chaos run's report states, worked out once from its RunRecord so
// that the text summary and the HTML page say the same: faults by action, writes by outcome
// with the latency of the ok ones, the leaders and terms seen, the lowest ready count, the
// checks passed; and the number formats both use. Pure functions, no I/O.
import type { ReadySample, RunRecord, WriteSample } from './record.ts';

/** WriteOutcome is how an API write ended. */
export type WriteOutcome = WriteSample['outcome'];

/** WRITE_OUTCOMES lists the outcomes in the order a report shows them. */
export const WRITE_OUTCOMES: readonly WriteOutcome[] = ['ok', 'conflict', 'fail', 'unknown'];

/** ActionCount is how many faults of one action a run injected. */
export interface ActionCount {
  readonly action: string;
  readonly count: number;
}

/** LatencyFigures are percentiles of a set of latencies (ms), nearest-rank. */
export interface LatencyFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** LeaderFigures say who led during a run, as its leader samples saw it. */
export interface LeaderFigures {
  /** The distinct leaders, in the order they were first seen. */
  readonly leaders: readonly string[];
  /** The distinct terms seen in any sample, ascending. */
  readonly terms: readonly number[];
  /** How often the leader known differed from the one known before it. */
  readonly changes: number;
  /** Time between a sample that knew no leader and the sample after it, summed (ms). */
  readonly noLeaderMs: number;
}

/** RunFigures are the facts a report states about a run. */
export interface RunFigures {
  /** passed: every check is ok. */
  readonly passed: boolean;
  readonly checksPassed: number;
  /** Faults by action, in the order each action was first injected. */
  readonly faultsByAction: readonly ActionCount[];
  /** Faults never healed (endMs undefined). */
  readonly faultsUnhealed: number;
  readonly writesByOutcome: Readonly<Record<WriteOutcome, number>>;
  /** Latency of the ok writes; undefined when there were none. */
  readonly okWriteLatency: LatencyFigures | undefined;
  readonly leaders: LeaderFigures;
  /** The first sample with the largest shortfall of ready replicas; undefined without samples. */
  readonly lowestReady: ReadySample | undefined;
  /** The last ready sample; undefined without samples. */
  readonly lastReady: ReadySample | undefined;
}

/** runFigures works out the facts a report states about r. */
export function runFigures(r: RunRecord): RunFigures {
  const checksPassed = r.checks.filter((c) => c.ok).length;
  return {
    passed: checksPassed === r.checks.length,
    checksPassed,
    faultsByAction: countByAction(r),
    faultsUnhealed: r.faults.filter((f) => f.endMs === undefined).length,
    writesByOutcome: countByOutcome(r.writes),
    okWriteLatency: latencyFigures(r.writes.filter((w) => w.outcome === 'ok').map((w) => w.latencyMs)),
    leaders: leaderFigures(r),
    lowestReady: r.ready.reduce<ReadySample | undefined>(
      (lowest, s) => (lowest === undefined || s.desired - s.ready > lowest.desired - lowest.ready ? s : lowest),
      undefined,
    ),
    lastReady: r.ready.at(-1),
  };
}

function countByAction(r: RunRecord): ActionCount[] {
  const counts = new Map<string, number>();
  for (const f of r.faults) counts.set(f.action, (counts.get(f.action) ?? 0) + 1);
  return [...counts].map(([action, count]) => ({ action, count }));
}

function countByOutcome(writes: readonly WriteSample[]): Record<WriteOutcome, number> {
  const counts: Record<WriteOutcome, number> = { ok: 0, conflict: 0, fail: 0, unknown: 0 };
  for (const w of writes) counts[w.outcome] += 1;
  return counts;
}

/** latencyFigures is the nearest-rank p50, p99 and max of latenciesMs; undefined when empty. */
function latencyFigures(latenciesMs: readonly number[]): LatencyFigures | undefined {
  if (latenciesMs.length === 0) return undefined;
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50Ms: rank(50), p99Ms: rank(99), maxMs: sorted.at(-1)! };
}

function leaderFigures(r: RunRecord): LeaderFigures {
  const leaders: string[] = [];
  let changes = 0;
  let noLeaderMs = 0;
  let known = '';
  r.leaders.forEach((s, i) => {
    const next = r.leaders[i + 1];
    if (s.leader === '') {
      if (next !== undefined) noLeaderMs += next.atMs - s.atMs;
      return;
    }
    if (!leaders.includes(s.leader)) leaders.push(s.leader);
    if (known !== '' && s.leader !== known) changes += 1;
    known = s.leader;
  });
  const terms = [...new Set(r.leaders.map((s) => s.term))].sort((a, b) => a - b);
  return { leaders, terms, changes, noLeaderMs };
}

// ---------------------------------------------------------------------------------------------
// Number formats

/** formatCount(1203) is "1,203". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * formatPercent(answered, requests) is the share with one decimal, e.g. "99.8%"; it says
 * "100.0%" only when all were answered and "0.0%" only when none were; "-" without requests.
 */
export function formatPercent(answered: number, requests: number): string {
  if (requests === 0) return '-';
  const text = ((answered / requests) * 100).toFixed(1);
  if (text === '100.0' && answered < requests) return '99.9%';
  if (text === '0.0' && answered > 0) return '0.1%';
  return `${text}%`;
}

/** formatDuration(ms) is "42.3s" under a minute, "30m05s" under an hour, then "1h02m03s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalS = Math.round(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = String(totalS % 60).padStart(2, '0');
  return h === 0 ? `${m}m${s}s` : `${h}h${String(m).padStart(2, '0')}m${s}s`;
}

/** formatLatency(ms) is "4.2 ms" under 10 ms, "340 ms" under 10 s, then "12.3 s". */
export function formatLatency(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${formatCount(Math.round(ms))} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
