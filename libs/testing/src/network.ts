import type { Message, NodeId } from '@tugboat/raft';
import type { PartitionKind } from './profile.ts';
import type { Rng } from './prng.ts';

/** Envelope is a message in flight with the step it is due. */
export interface Envelope {
  readonly msg: Message;
  readonly dueStep: number;
  readonly duplicate: boolean;
}

/** NetworkFaults are the per-message faults in force; the liveness phase swaps in calm ones. */
export interface NetworkFaults {
  readonly delayMinSteps: number;
  readonly delayMaxSteps: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
}

/** SendOutcome says what became of a sent message. */
export type SendOutcome = 'sent' | 'dropped' | 'cut' | 'duplicated';

/**
 * SimNetwork holds the messages in flight, bucketed by the step they are due, and the set of
 * cut directed links. A message is lost if its link is cut when it is sent or when it is due;
 * otherwise it may be dropped or duplicated, and is delayed by a drawn number of steps (so
 * messages on one link can overtake each other).
 */
export class SimNetwork {
  private readonly buckets = new Map<number, Envelope[]>();
  private readonly cut = new Set<string>();
  private readonly rng: Rng;
  faults: NetworkFaults;
  inFlight = 0;

  constructor(rng: Rng, faults: NetworkFaults) {
    this.rng = rng;
    this.faults = faults;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(from + '>' + to);
  }

  hasPartition(): boolean {
    return this.cut.size > 0;
  }

  send(msg: Message, nowStep: number): SendOutcome {
    if (this.isCut(msg.from, msg.to)) return 'cut';
    const f = this.faults;
    if (this.rng.chance(f.dropRate)) return 'dropped';
    this.enqueue({ msg, dueStep: nowStep + this.rng.range(f.delayMinSteps, f.delayMaxSteps), duplicate: false });
    if (this.rng.chance(f.duplicateRate)) {
      this.enqueue({ msg, dueStep: nowStep + this.rng.range(f.delayMinSteps, f.delayMaxSteps), duplicate: true });
      return 'duplicated';
    }
    return 'sent';
  }

  /** hold moves a due message to a later step (its receiver is frozen until then). */
  hold(env: Envelope, untilStep: number): void {
    this.enqueue({ msg: env.msg, dueStep: untilStep, duplicate: env.duplicate });
  }

  private enqueue(env: Envelope): void {
    const bucket = this.buckets.get(env.dueStep);
    if (bucket === undefined) this.buckets.set(env.dueStep, [env]);
    else bucket.push(env);
    this.inFlight++;
  }

  /** takeDue removes and returns the messages due at `step`, in the order they were sent. */
  takeDue(step: number): Envelope[] | undefined {
    const bucket = this.buckets.get(step);
    if (bucket === undefined) return undefined;
    this.buckets.delete(step);
    this.inFlight -= bucket.length;
    return bucket;
  }

  /**
   * partition cuts links among `members` and describes the cut. split: two random sides, both
   * directions; isolate: one member (`isolateHint` if given) from all others; oneWay: a few
   * random directed links.
   */
  partition(kind: PartitionKind, members: readonly NodeId[], isolateHint?: NodeId): string {
    this.heal();
    const ids = [...members];
    if (ids.length < 2) return 'none';
    if (kind === 'split') {
      for (let i = ids.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [ids[i], ids[j]] = [ids[j]!, ids[i]!];
      }
      const k = this.rng.range(1, ids.length - 1);
      const a = ids.slice(0, k);
      const b = ids.slice(k);
      for (const x of a) for (const y of b) this.cutBoth(x, y);
      return `split ${a.join(',')} | ${b.join(',')}`;
    }
    if (kind === 'isolate') {
      const x = isolateHint !== undefined && ids.includes(isolateHint) ? isolateHint : this.rng.pick(ids);
      for (const y of ids) if (y !== x) this.cutBoth(x, y);
      return `isolate ${x}`;
    }
    const n = this.rng.range(1, ids.length);
    const links: string[] = [];
    for (let i = 0; i < n; i++) {
      const x = this.rng.pick(ids);
      const y = this.rng.pick(ids);
      if (x === y) continue;
      this.cut.add(x + '>' + y);
      links.push(x + '>' + y);
    }
    return `oneWay ${links.join(',') || 'none'}`;
  }

  /** cutLinks cuts exactly the given directed links (scenario tests). */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(from + '>' + to);
  }

  private cutBoth(x: NodeId, y: NodeId): void {
    this.cut.add(x + '>' + y);
    this.cut.add(y + '>' + x);
  }

  heal(): void {
    this.cut.clear();
  }
}
