// checks.ts: the invariants of a chaos run, judged from what was recorded (pure). Each check
// gives a verdict with the figures or the evidence that decided it.
import { checkHistory } from '@tugboat/testing';
import type { Operation } from '@tugboat/testing';
import { formatPercent } from './figures.ts';
import type { CheckResult, FaultSpan, PhaseAvailability, RequestBucket } from './record.ts';
import type { Availability } from './scenario.ts';

/** LeaderClaim is one member's own record that it became leader of a term. */
export interface LeaderClaim {
  readonly member: string;
  readonly term: number;
}

/** oneLeaderPerTerm: no term was led by two members, from the members' own records. */
export function oneLeaderPerTerm(claims: readonly LeaderClaim[]): CheckResult {
  const byTerm = new Map<number, Set<string>>();
  for (const c of claims) byTerm.set(c.term, (byTerm.get(c.term) ?? new Set()).add(c.member));
  const twice = [...byTerm].filter(([, members]) => members.size > 1).sort(([a], [b]) => a - b);
  const name = 'at most one leader per term';
  if (twice.length > 0) return { name, ok: false, detail: twice.map(([term, m]) => `term ${term} led by ${[...m].sort().join(' and ')}`).join('; ') };
  const terms = [...byTerm.keys()].sort((a, b) => a - b);
  return { name, ok: true, detail: terms.length === 0 ? 'no member became leader during the run' : `${terms.length} terms led (${terms[0]} to ${terms.at(-1)}), each by one member` };
}

/** Request is one service request: when it was sent and whether it was answered. */
export interface Request {
  readonly atMs: number;
  readonly answered: boolean;
}

/** Recovery is the time from a fault's heal until the workload had its desired replicas Ready again. */
export interface Recovery {
  readonly fault: string;
  readonly healedAtMs: number;
  /** undefined: it never recovered within the bound. */
  readonly recoveredAtMs: number | undefined;
}

/** phaseAt names the phase a moment belongs to: the fault active then, recovering, or steady. */
export function phaseAt(atMs: number, faults: readonly FaultSpan[], recoveries: readonly Recovery[]): string {
  const f = faults.find((s) => atMs >= s.startMs && atMs < (s.endMs ?? Infinity));
  if (f !== undefined) return f.action;
  if (recoveries.some((r) => atMs >= r.healedAtMs && atMs < (r.recoveredAtMs ?? Infinity))) return 'recovering';
  return 'steady';
}

/** availabilityByPhase counts the requests answered in each phase, steady first. */
export function availabilityByPhase(requests: readonly Request[], faults: readonly FaultSpan[], recoveries: readonly Recovery[]): PhaseAvailability[] {
  const by = new Map<string, { requests: number; answered: number }>([['steady', { requests: 0, answered: 0 }]]);
  for (const r of requests) {
    const p = phaseAt(r.atMs, faults, recoveries);
    const c = by.get(p) ?? { requests: 0, answered: 0 };
    c.requests++;
    if (r.answered) c.answered++;
    by.set(p, c);
  }
  return [...by].map(([phase, c]) => ({ phase, ...c }));
}

/** perSecond buckets the requests by the second they were sent in. */
export function perSecond(requests: readonly Request[]): RequestBucket[] {
  const by = new Map<number, { answered: number; failed: number }>();
  for (const r of requests) {
    const s = Math.floor(r.atMs / 1_000) * 1_000;
    const b = by.get(s) ?? { answered: 0, failed: 0 };
    if (r.answered) b.answered++;
    else b.failed++;
    by.set(s, b);
  }
  return [...by].sort(([a], [b]) => a - b).map(([atMs, b]) => ({ atMs, ...b }));
}

const pct = (answered: number, requests: number): number => (requests === 0 ? 100 : (100 * answered) / requests);

/** availabilityHolds: each phase answered at least its share (fault phases: `fault`). */
export function availabilityHolds(phases: readonly PhaseAvailability[], least: Availability): CheckResult {
  const bound = (phase: string): number => (phase === 'steady' ? least.steady : phase === 'recovering' ? least.recovering : least.fault);
  const figures = phases.filter((p) => p.requests > 0).map((p) => `${p.phase} ${formatPercent(p.answered, p.requests)} of ${p.requests} (least ${bound(p.phase)}%)`);
  const short = phases.filter((p) => p.requests > 0 && pct(p.answered, p.requests) < bound(p.phase));
  const requests = phases.reduce((n, p) => n + p.requests, 0);
  if (requests === 0) return { name: 'service availability', ok: false, detail: 'no request was sent to the service' };
  return { name: 'service availability', ok: short.length === 0, detail: figures.join('; ') };
}

/** recoveredInTime: after every heal the desired replicas were Ready again within the bound. */
export function recoveredInTime(recoveries: readonly Recovery[], boundMs: number): CheckResult {
  const name = `desired replicas Ready within ${boundMs / 1_000} s of each heal`;
  if (recoveries.length === 0) return { name, ok: false, detail: 'no fault was healed during the run' };
  const late = recoveries.filter((r) => r.recoveredAtMs === undefined || r.recoveredAtMs - r.healedAtMs > boundMs);
  const times = recoveries.filter((r) => r.recoveredAtMs !== undefined).map((r) => r.recoveredAtMs! - r.healedAtMs);
  const worst = times.length === 0 ? 0 : Math.max(...times);
  if (late.length > 0) {
    return { name, ok: false, detail: late.map((r) => `after ${r.fault} healed at ${(r.healedAtMs / 1_000).toFixed(1)} s: ${r.recoveredAtMs === undefined ? 'never' : `${((r.recoveredAtMs - r.healedAtMs) / 1_000).toFixed(1)} s`}`).join('; ') };
  }
  return { name, ok: true, detail: `${recoveries.length} heals, slowest recovery ${(worst / 1_000).toFixed(1)} s` };
}

/** ContainerSighting is a container seen running on a node, with its pod. */
export interface ContainerSighting {
  readonly atMs: number;
  readonly node: string;
  readonly podUid: string;
  readonly pod: string;
}

/**
 * noOrphanContainers: no container ran on for a pod the API no longer had, longer than `graceMs`
 * (a deletion takes a moment to reach the node) while its node was not under a fault.
 * `orphans` are the sightings of running containers whose pod was gone at that moment.
 */
export function noOrphanContainers(orphans: readonly ContainerSighting[], faults: readonly FaultSpan[], graceMs: number): CheckResult {
  const name = 'no container running for a deleted pod';
  const first = new Map<string, number>();
  const stale: ContainerSighting[] = [];
  for (const s of [...orphans].sort((a, b) => a.atMs - b.atMs)) {
    const since = first.get(s.podUid) ?? s.atMs;
    first.set(s.podUid, since);
    const hit = faults.some((f) => f.target.split(/[ ,]/).includes(s.node) && s.atMs >= f.startMs && s.atMs < (f.endMs ?? Infinity) + graceMs);
    if (!hit && s.atMs - since > graceMs && !stale.some((x) => x.podUid === s.podUid)) stale.push(s);
  }
  if (stale.length > 0) return { name, ok: false, detail: stale.map((s) => `${s.pod} (uid ${s.podUid}) still running on ${s.node} at ${(s.atMs / 1_000).toFixed(1)} s, ${((s.atMs - first.get(s.podUid)!) / 1_000).toFixed(1)} s after it was gone`).join('; ') };
  return { name, ok: true, detail: orphans.length === 0 ? 'none seen' : `${first.size} pods' containers outlived them by less than ${graceMs / 1_000} s (the deletion reaching the node)` };
}

/** SoloSample counts the running copies of the one-replica set's pod at one moment. */
export interface SoloSample {
  readonly atMs: number;
  readonly copies: readonly string[];
}

/**
 * oneCopyOfSolo: the one-replica set never ran two pods at once while the cluster was whole:
 * outside faults and more than `settleMs` after the last heal (a node cut off keeps its copy
 * until it hears from the control plane again, as in Kubernetes).
 */
export function oneCopyOfSolo(samples: readonly SoloSample[], faults: readonly FaultSpan[], settleMs: number): CheckResult {
  const name = 'no second copy of the one-replica set\'s pod';
  const whole = (at: number): boolean => faults.every((f) => at < f.startMs || at >= (f.endMs ?? Infinity) + settleMs);
  const twice = samples.filter((s) => s.copies.length > 1 && whole(s.atMs));
  if (twice.length > 0) return { name, ok: false, detail: twice.slice(0, 3).map((s) => `${s.copies.join(' and ')} running at ${(s.atMs / 1_000).toFixed(1)} s`).join('; ') };
  const during = samples.filter((s) => s.copies.length > 1).length;
  const counted = (n: number): string => `${n} sample${n === 1 ? '' : 's'}`;
  return { name, ok: true, detail: `${counted(samples.length)}${during > 0 ? `; two copies only while a node was cut off (${counted(during)})` : ''}` };
}

/** linearizable: the API history of the workload's clients is linearizable (so no acknowledged write was lost). */
export function linearizable(history: readonly Operation[], budget?: number): CheckResult {
  const name = 'API history linearizable, no acknowledged write lost';
  const r = checkHistory(history, budget === undefined ? {} : { budget });
  const writes = history.filter((o) => o.input.op !== 'get' && o.input.op !== 'list');
  const unknown = history.filter((o) => o.output === undefined).length;
  if (r.ok === true) return { name, ok: true, detail: `${history.length} operations (${writes.length} writes, ${unknown} with unknown outcome) on ${r.keys} objects` };
  if (r.ok === 'unknown') return { name, ok: false, detail: `could not decide: ${r.message}` };
  return { name, ok: false, detail: r.message };
}

/** nothingLeft: after the run healed and removed its workload, nothing of it is left. */
export function nothingLeft(left: readonly string[]): CheckResult {
  return { name: 'nothing left running after the run', ok: left.length === 0, detail: left.length === 0 ? 'no pod, container, sandbox or fault left' : left.join('; ') };
}
