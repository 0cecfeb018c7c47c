// sample-record.ts: a made-up RunRecord for the report's tests (@tugboat/chaos/testing), as a
// run of any length would leave it with per-second samples. Every 60 s from 20 s the leader is
// killed for 8 s (no leader for 2 s, then the next member leads in a new term; 20 % of the
// service requests fail and the first two writes each second end unknown and failed for 2 s;
// 2 ready replicas of 3 for 5 s); at half time a partition for 15 s leaves 1 ready replica;
// 30 s before the end a paused node is never resumed. One steady second loses a request, a
// few writes conflict or are slow; the check of the time to elect a leader fails.
import type { FaultSpan, LeaderSample, PhaseAvailability, ReadySample, RequestBucket, RunRecord, WriteSample } from './record.ts';

/** SampleRecordOptions shape sampleRunRecord's record. */
export interface SampleRecordOptions {
  /** The run's length in whole seconds, at least 60; 120 unless given. */
  readonly durationS?: number;
  /** The scenario's description; a plain sentence unless given. */
  readonly description?: string;
}

const MEMBERS = ['node-1', 'node-2', 'node-3'];
const REQUESTS_PER_S = 20;
const WRITES_PER_S = 5;
/** RECOVERING_S is how long after a fault heals the run's seconds count as "recovering". */
const RECOVERING_S = 10;

/** sampleRunRecord is a made-up record of a run of options.durationS seconds (see the header). */
export function sampleRunRecord(options: SampleRecordOptions = {}): RunRecord {
  const durationS = options.durationS ?? 120;
  if (!Number.isInteger(durationS) || durationS < 60) throw new Error(`sampleRunRecord: durationS must be a whole number of at least 60, got ${durationS}`);
  const faults: FaultSpan[] = [];
  for (let t = 20; t + 8 < durationS; t += 60) faults.push({ action: 'kill-leader', target: 'leader', startMs: t * 1000, endMs: (t + 8) * 1000 });
  const half = Math.floor(durationS / 2);
  faults.push({ action: 'partition', target: 'node-3 from node-1,node-2', startMs: half * 1000, endMs: (half + 15) * 1000 });
  faults.push({ action: 'pause-node', target: 'node-2', startMs: (durationS - 30) * 1000, endMs: undefined });
  faults.sort((a, b) => a.startMs - b.startMs);

  const secondsInto = (t: number, action: string): number | undefined => {
    const f = faults.find((x) => x.action === action && x.startMs <= t * 1000 && t * 1000 < (x.endMs ?? Infinity));
    return f === undefined ? undefined : t - f.startMs / 1000;
  };
  const leaders: LeaderSample[] = [];
  const ready: ReadySample[] = [];
  const requests: RequestBucket[] = [];
  const writes: WriteSample[] = [];
  const phaseCounts = new Map<string, { requests: number; answered: number }>();
  let term = 2;
  let leaderIndex = 0;
  for (let t = 0; t < durationS; t++) {
    const atMs = t * 1000;
    const intoKill = secondsInto(t, 'kill-leader');
    if (intoKill === 2) {
      term += 1;
      leaderIndex = (leaderIndex + 1) % MEMBERS.length;
    }
    leaders.push({ atMs, leader: intoKill !== undefined && intoKill < 2 ? '' : MEMBERS[leaderIndex]!, term });

    const sinceKill = faults.filter((f) => f.action === 'kill-leader').some((f) => f.startMs <= atMs && atMs < f.startMs + 5000);
    const readyNow = secondsInto(t, 'partition') !== undefined ? 1 : sinceKill ? 2 : 3;
    ready.push({ atMs, ready: readyNow, desired: 3 });

    const failed = intoKill !== undefined && intoKill < 3 ? 4 : t === 5 ? 1 : 0;
    requests.push({ atMs, answered: REQUESTS_PER_S - failed, failed });
    const phase = phaseAt(faults, t);
    const counts = phaseCounts.get(phase) ?? { requests: 0, answered: 0 };
    phaseCounts.set(phase, { requests: counts.requests + REQUESTS_PER_S, answered: counts.answered + REQUESTS_PER_S - failed });

    for (let k = 0; k < WRITES_PER_S; k++) writes.push(sampleWrite(atMs + k * 200, k, t, intoKill));
  }
  const phases: PhaseAvailability[] = [...phaseCounts].map(([phase, c]) => ({ phase, ...c }));
  return {
    scenario: 'leader-churn',
    description: options.description ?? 'Kill the leader every minute, partition a member, pause a node.',
    seed: 42,
    cluster: 'chaos-test',
    startedAt: '2026-12-07T16:00:00.000Z',
    durationMs: durationS * 1000,
    faults,
    leaders,
    ready,
    requests,
    writes,
    phases,
    checks: [
      { name: 'no-lost-writes', ok: true, detail: 'every acknowledged write read back' },
      { name: 'linearizable', ok: true, detail: 'history of writes and reads is linearizable' },
      {
        name: 'leader-elected',
        ok: false,
        detail: 'no leader for 2.0s after a kill, 1.5s allowed\nat 20s: term 3, node-2 led at 22s\nat 80s: term 4, node-3 led at 82s\nevery kill alike',
      },
      { name: 'converges', ok: true, detail: '3 of 3 ready 6s after the last heal' },
    ],
    rerun: 'tug chaos run scenarios/leader-churn.yaml --seed 42 --report out/leader-churn',
  };
}

/** phaseAt is the phase of second t: a fault's action while one is active, then "recovering", else "steady". */
function phaseAt(faults: readonly FaultSpan[], t: number): string {
  const atMs = t * 1000;
  const active = faults.find((f) => f.startMs <= atMs && atMs < (f.endMs ?? Infinity));
  if (active !== undefined) return active.action;
  const recovering = faults.some((f) => f.endMs !== undefined && f.endMs <= atMs && atMs < f.endMs + RECOVERING_S * 1000);
  return recovering ? 'recovering' : 'steady';
}

/** sampleWrite is the k-th write of second t: unknown or failed early in a leader kill, now and then a conflict or slow. */
function sampleWrite(atMs: number, k: number, t: number, intoKill: number | undefined): WriteSample {
  if (intoKill !== undefined && intoKill < 2 && k === 0) return { atMs, latencyMs: 5000, outcome: 'unknown' };
  if (intoKill !== undefined && intoKill < 2 && k === 1) return { atMs, latencyMs: 1200, outcome: 'fail' };
  if (t % 30 === 7 && k === 2) return { atMs, latencyMs: 15, outcome: 'conflict' };
  return { atMs, latencyMs: t % 20 === 0 && k === 4 ? 250 : 4 + k, outcome: 'ok' };
}
