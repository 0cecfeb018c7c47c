/**
 * Measuring helpers shared by the benchmarks (raft.ts, store.ts): percentiles, number formats,
 * Markdown tables, CPU-time sampling from /proc, the closed-loop load runner, and the bundle of
 * tug-control the benchmarks run (the form a cluster runs it in).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundlePrograms, PROGRAM_FILES, programsDir } from '@tugboat/localcluster';

/** percentile is the p-th percentile of `sorted` (ascending), NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
export const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
export const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

/** table renders rows (the first is the header) as a Markdown table, the first column left-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w, c) => (c === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** cpuTicks reads the machine's busy and total CPU time, and that of this process and `pids` (clock ticks). */
export function cpuTicks(pids: readonly number[]): { busy: number; total: number; ours: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const busy = total - f[3]! - f[4]!;
  let ours = 0;
  for (const pid of [process.pid, ...pids]) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
      ours += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return { busy, total, ours };
}

/** ClosedLoop is what a closed-loop run measured. */
export interface ClosedLoop {
  /** Latencies of the calls that completed inside the measured window, ms, ascending. */
  readonly lat: number[];
  /** CPU ticks over the measured window: the machine's busy and total time, this process's and the PIDs'. */
  readonly cpu: { readonly busy: number; readonly total: number; readonly ours: number };
}

/**
 * closedLoop runs `inFlight` closed-loop callers of `call` for `ms` after `warmupMs`. A call
 * counts if it completes inside the window and does not resolve to `false`; `counted` sees the
 * result of each counted call.
 */
export async function closedLoop<T>(
  call: (worker: number, i: number) => Promise<T>,
  pids: readonly number[],
  inFlight: number,
  warmupMs: number,
  ms: number,
  counted?: (result: T) => void,
): Promise<ClosedLoop> {
  const measureFrom = performance.now() + warmupMs;
  const end = measureFrom + ms;
  const lat: number[] = [];
  let cpu0 = cpuTicks(pids);
  setTimeout(() => (cpu0 = cpuTicks(pids)), warmupMs).unref();
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const t = performance.now();
      if (t >= end) return;
      const r = await call(w, i);
      if (r === false) continue;
      const done = performance.now();
      if (done >= measureFrom && done <= end) {
        lat.push(done - t);
        counted?.(r);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  const cpu1 = cpuTicks(pids);
  lat.sort((a, b) => a - b);
  return { lat, cpu: { busy: cpu1.busy - cpu0.busy, total: cpu1.total - cpu0.total, ours: cpu1.ours - cpu0.ours } };
}

/** controlBundle bundles tug-control as a local cluster runs it (@tugboat/localcluster) into a
 *  temporary dir, removed when this process exits, and returns the bundle's path. */
export async function controlBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-programs-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  await bundlePrograms(dir);
  return join(programsDir(dir), PROGRAM_FILES.control);
}
