import type { Entry, NodeId } from '@tugboat/raft';
import type { LogState } from './disk.ts';
import { dataKey } from './state-machine.ts';

/**
 * Property names a violation can carry. The first group are the Raft safety properties
 * (Raft paper, Figure 3) and the per-member monotonicity checks; the second are contract
 * checks between the core and its driver; `liveness` is the final convergence requirement.
 */
export type Property =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'commit-rule'
  | 'state-machine-safety'
  | 'monotonic-commit'
  | 'monotonic-apply'
  | 'apply-beyond-commit'
  | 'durability'
  | 'read-index'
  | 'persist-before-send'
  | 'ready-contract'
  | 'driver-view'
  | 'exception'
  | 'liveness';

/** SimViolation is thrown by a check that failed; the simulation turns it into a report. */
export class SimViolation extends Error {
  override readonly name = 'SimViolation';
  readonly property: Property;
  constructor(property: Property, message: string) {
    super(`${property}: ${message}`);
    this.property = property;
  }
}

export function isSimViolation(e: unknown): e is SimViolation {
  return e instanceof Error && e.name === 'SimViolation';
}

/** TERM_MAX bounds terms so that (index, term) packs into one safe integer key. */
const TERM_MAX = 1 << 20;

interface EntryRecord {
  readonly prevTerm: number;
  readonly key: string;
  readonly member: NodeId;
}

interface AppliedRecord {
  readonly term: number;
  readonly key: string;
  readonly h1: number;
  readonly h2: number;
  readonly member: NodeId;
}

function entryKey(e: Entry): string {
  return (e.kind === 'conf' ? 'C' : 'N') + dataKey(e.data);
}

/**
 * SafetyChecker holds the global facts of a run and checks every new observation against them:
 *
 * - election safety: one leader per term, over every (term, leader) ever observed;
 * - log matching: every (index, term) ever written to any member's log names one entry with
 *   one predecessor term. By induction over the index, equal (index, term) then means equal
 *   logs up to that index, so checking each written entry once suffices;
 * - leader completeness: an entry seen committed by a member at term T (so committed in a term
 *   <= T) must be in the log of every leader of a term > T, unless that leader compacted it;
 * - state machine safety: one entry (and one state hash) per applied index, across members and
 *   their restarts; one index per command.
 */
export class SafetyChecker {
  /** Leader of each term ever observed. */
  readonly leaders = new Map<number, NodeId>();
  private readonly written = new Map<number, EntryRecord>();
  /** Term of the committed entry at each index (sparse until observed). */
  readonly committedTerm: number[] = [];
  /** Lowest member term at which each committed index was observed committed. */
  readonly commitBound: number[] = [];
  committedMax = 0;
  private readonly applied: AppliedRecord[] = [];
  appliedMax = 0;
  private readonly commandIndex = new Map<string, number>();
  /** Highest commit index any member has reported. */
  commitObservedMax = 0;

  /** observeLeader records that `id` leads `term`; it answers true when this is news. */
  observeLeader(id: NodeId, term: number): boolean {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, id);
      return true;
    }
    if (prev !== id) throw new SimViolation('election-safety', `two leaders in term ${term}: ${prev} and ${id}`);
    return false;
  }

  /** checkWritten checks entries just written to `member`'s log; `prevTerm` is the term before the first. */
  checkWritten(member: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let prev = prevTerm;
    for (const e of entries) {
      if (e.term >= TERM_MAX) throw new SimViolation('ready-contract', `term ${e.term} beyond the simulator's limit`);
      if (e.term < prev) {
        throw new SimViolation('log-matching', `${member} wrote entry ${e.index} with term ${e.term} after term ${prev}`);
      }
      const k = e.index * TERM_MAX + e.term;
      const key = entryKey(e);
      const rec = this.written.get(k);
      if (rec === undefined) {
        this.written.set(k, { prevTerm: prev, key, member });
      } else if (rec.key !== key) {
        throw new SimViolation('log-matching', `entry ${e.index}/${e.term} differs between ${rec.member} and ${member}`);
      } else if (rec.prevTerm !== prev) {
        throw new SimViolation(
          'log-matching',
          `entry ${e.index}/${e.term} follows term ${rec.prevTerm} at ${rec.member} but term ${prev} at ${member}`,
        );
      }
      prev = e.term;
    }
  }

  /**
   * recordCommit records that `member`, at term `term`, has committed (from, to] of its `log`
   * (indexes it has compacted are skipped): the term of each, and `term` as an upper bound of
   * the term in which it was committed. Two different terms committed at one index is a
   * state machine safety violation.
   */
  recordCommit(member: NodeId, log: LogState, from: number, to: number, term: number): void {
    if (to > log.lastIndex()) {
      throw new SimViolation('ready-contract', `${member} commit ${to} beyond its last index ${log.lastIndex()}`);
    }
    for (let i = Math.max(from + 1, log.snapIndex()); i <= to; i++) {
      const t = log.termAt(i);
      if (t === undefined) continue;
      const known = this.committedTerm[i];
      if (known === undefined) {
        this.committedTerm[i] = t;
        this.commitBound[i] = term;
        if (i > this.committedMax) this.committedMax = i;
      } else {
        if (known !== t) {
          throw new SimViolation('state-machine-safety', `index ${i} committed with term ${known} earlier, with term ${t} at ${member}`);
        }
        if (term < this.commitBound[i]!) this.commitBound[i] = term;
      }
    }
    if (to > this.commitObservedMax) this.commitObservedMax = to;
  }

  /**
   * checkLeaderLog checks leader completeness for the leader `id` of `term` over committed
   * indexes [lo, hi]: every entry committed at a lower term must be in its log.
   */
  checkLeaderLog(id: NodeId, term: number, log: LogState, lo: number, hi: number): void {
    const snap = log.snapIndex();
    const top = Math.min(hi, this.committedMax);
    for (let i = Math.max(lo, snap, 1); i <= top; i++) {
      const want = this.committedTerm[i];
      if (want === undefined || this.commitBound[i]! >= term) continue;
      const have = log.termAt(i);
      if (have !== want) {
        throw new SimViolation(
          'leader-completeness',
          `leader ${id} of term ${term} has ${have === undefined ? 'no entry' : `term ${have}`} at ${i}, committed with term ${want} by term ${this.commitBound[i]}`,
        );
      }
    }
  }

  /**
   * recordApply checks an entry `member` just applied; `h1`/`h2` is its state hash after it.
   * It answers true when this index is applied for the first time anywhere.
   */
  recordApply(member: NodeId, e: Entry, h1: number, h2: number): boolean {
    const key = entryKey(e);
    const committed = this.committedTerm[e.index];
    if (committed !== undefined && committed !== e.term) {
      throw new SimViolation('state-machine-safety', `${member} applied ${e.index}/${e.term}, but ${e.index} was committed with term ${committed}`);
    }
    const rec = this.applied[e.index];
    if (rec !== undefined) {
      if (rec.term !== e.term || rec.key !== key) {
        throw new SimViolation('state-machine-safety', `${member} applied ${e.index}/${e.term}, ${rec.member} applied ${e.index}/${rec.term} with other data`);
      }
      if (rec.h1 !== h1 || rec.h2 !== h2) {
        throw new SimViolation('state-machine-safety', `${member}'s state after ${e.index} differs from ${rec.member}'s (it applied something else earlier)`);
      }
      return false;
    }
    if (e.kind === 'normal' && e.data.length > 0) {
      const at = this.commandIndex.get(key);
      if (at !== undefined && at !== e.index) {
        throw new SimViolation('state-machine-safety', `command ${JSON.stringify(key.slice(1))} applied at ${at} and again at ${e.index} (by ${member})`);
      }
      this.commandIndex.set(key, e.index);
    }
    this.applied[e.index] = { term: e.term, key, h1, h2, member };
    if (e.index > this.appliedMax) this.appliedMax = e.index;
    return true;
  }

  /** checkStateAt checks a state machine restored at `index` (from a snapshot) against what was applied there. */
  checkStateAt(member: NodeId, index: number, term: number, h1: number, h2: number): void {
    if (index === 0) return;
    const rec = this.applied[index];
    if (rec === undefined) {
      throw new SimViolation('state-machine-safety', `${member} restored a snapshot at ${index}, an index nobody applied`);
    }
    if (rec.term !== term || rec.h1 !== h1 || rec.h2 !== h2) {
      throw new SimViolation('state-machine-safety', `${member} restored a snapshot at ${index} that differs from the state ${rec.member} applied there`);
    }
  }

  /** indexOfCommand answers where a command was applied, if it was. */
  indexOfCommand(command: string): number | undefined {
    return this.commandIndex.get('N' + command);
  }

  /** appliedAt answers the entry term and state hash recorded at `index`, if that index was applied. */
  appliedAt(index: number): { term: number; h1: number; h2: number } | undefined {
    return this.applied[index];
  }
}
