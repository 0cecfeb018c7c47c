import { Rng } from './prng.ts';

/** PartitionKind names the shapes of network partition the simulation injects. */
export type PartitionKind = 'split' | 'isolate' | 'oneWay';

/**
 * FaultProfile is everything a seed decides about its run besides the order of events:
 * the Raft settings of its members and how hostile the world is. Rates are probabilities per
 * step (one step = one unit of virtual time) unless said otherwise; durations are in steps.
 */
export interface FaultProfile {
  // Raft settings (the same for every member of the run).
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;

  /** Steps between two ticks of a member (members tick at different phases). */
  readonly tickSteps: number;
  /**
   * Each member's tick period is drawn from tickSteps +- this (clock drift). Kept to +-1 of 10:
   * without pre-vote, a member whose clock runs 30% fast keeps calling elections it cannot win,
   * and each of its vote requests resets the others' election timers (a livelock, not a bug
   * the core can fix alone; see docs/simulation.md).
   */
  readonly clockSkewSteps: number;

  // Network.
  readonly delayMinSteps: number;
  readonly delayMaxSteps: number;
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice (the copy with its own delay). */
  readonly duplicateRate: number;
  /** Per step, while no partition is in force: probability that one starts. */
  readonly partitionRate: number;
  /** Relative weights of split / isolate / oneWay. */
  readonly partitionWeights: readonly [number, number, number];
  readonly partitionStepsMin: number;
  readonly partitionStepsMax: number;

  // Processes and disks.
  /** Per step: probability that one running member crashes. */
  readonly crashRate: number;
  /**
   * Probability that a crash, pause or isolation picks a current leader rather than any member
   * (swarm testing: some seeds churn leadership hard, which is where commit-rule bugs live).
   */
  readonly leaderFaultBias: number;
  /** Most members down (crashed) at once. */
  readonly downMax: number;
  readonly restartStepsMin: number;
  readonly restartStepsMax: number;
  /** Share of crashes that land inside the processing of a Ready rather than between events. */
  readonly midReadyCrashShare: number;
  /** Per step: probability that one running member freezes (no ticks, no deliveries) for a while. */
  readonly pauseRate: number;
  readonly pauseStepsMax: number;

  // Workload and operator actions.
  readonly proposalRate: number;
  readonly readRate: number;
  /** Per step: probability of proposing one membership change. */
  readonly confChangeRate: number;
  /** Whether the leader itself may be chosen for removal. */
  readonly removeLeaderAllowed: boolean;
  /** Per step: probability of asking a leader to transfer leadership. */
  readonly transferRate: number;
  /** A member compacts once it has applied this many entries past its snapshot. */
  readonly compactEveryEntries: number;
  /** Steps a removed member keeps running before it is shut down. */
  readonly removedLingerStepsMax: number;
}

/** describeProfile renders a profile as one compact trace line. */
export function describeProfile(p: FaultProfile): string {
  const f = (x: number): string => (Math.round(x * 10000) / 10000).toString();
  return [
    `pv=${p.preVote ? 1 : 0} cq=${p.checkQuorum ? 1 : 0} et=${p.electionTicks} ht=${p.heartbeatTicks}`,
    `msgB=${p.maxMsgBytes} infl=${p.maxInflightMsgs} chunkB=${p.snapshotChunkBytes} tick=${p.tickSteps}~${p.clockSkewSteps}`,
    `delay=${p.delayMinSteps}-${p.delayMaxSteps} drop=${f(p.dropRate)} dup=${f(p.duplicateRate)}`,
    `part=${f(p.partitionRate)} w=${p.partitionWeights.join('/')} len=${p.partitionStepsMin}-${p.partitionStepsMax}`,
    `crash=${f(p.crashRate)} leaderBias=${f(p.leaderFaultBias)} down<=${p.downMax} restart=${p.restartStepsMin}-${p.restartStepsMax} mid=${f(p.midReadyCrashShare)}`,
    `pause=${f(p.pauseRate)} len<=${p.pauseStepsMax}`,
    `prop=${f(p.proposalRate)} read=${f(p.readRate)} conf=${f(p.confChangeRate)} rmLeader=${p.removeLeaderAllowed ? 1 : 0}`,
    `xfer=${f(p.transferRate)} compact=${p.compactEveryEntries} linger=${p.removedLingerStepsMax}`,
  ].join(' ');
}

/**
 * drawProfile draws a run's profile from its own stream. Each fault is off in a share of the
 * seeds (so calm and hostile runs both occur) and otherwise drawn from a range.
 */
export function drawProfile(seed: number, nodes: number): FaultProfile {
  const r = Rng.forStream(seed, 'profile');
  const sometimes = (pOff: number, lo: number, hi: number): number => (r.chance(pOff) ? 0 : lo + r.float() * (hi - lo));
  const electionTicks = r.range(4, 12);
  const heartbeatTicks = r.range(1, Math.min(3, electionTicks - 1));
  const tickSteps = 10;
  // Latency classes: LAN, ordinary, reordering-heavy, pathological (beyond an election timeout).
  const latency = r.weighted([3, 4, 2, 1]);
  const delayMinSteps = r.range(1, 2);
  const delayMaxSteps =
    latency === 0 ? r.range(delayMinSteps, 3)
    : latency === 1 ? r.range(4, 12)
    : latency === 2 ? r.range(12, 40)
    : r.range(40, electionTicks * tickSteps * 2);
  const partitionStepsMin = r.range(20, 200);
  const restartStepsMin = r.range(1, 100);
  return {
    preVote: r.chance(0.6),
    checkQuorum: r.chance(0.6),
    electionTicks,
    heartbeatTicks,
    maxMsgBytes: r.pick([8, 32, 128, 1024, 1 << 20]),
    maxInflightMsgs: r.pick([1, 2, 4, 16, 256]),
    snapshotChunkBytes: r.pick([16, 40, 64, 128]),
    tickSteps,
    clockSkewSteps: r.pick([0, 0, 1, 1]),
    delayMinSteps,
    delayMaxSteps,
    dropRate: sometimes(0.25, 0, 0.2),
    duplicateRate: sometimes(0.3, 0, 0.15),
    partitionRate: sometimes(0.25, 0.0005, 0.006),
    partitionWeights: [r.range(0, 3), r.range(0, 3), r.range(0, 3)].map((w, i) => (i === 1 ? w + 1 : w)) as unknown as readonly [number, number, number],
    partitionStepsMin,
    partitionStepsMax: partitionStepsMin + r.range(0, 1000),
    crashRate: sometimes(0.25, 0.0003, 0.004),
    leaderFaultBias: sometimes(0.4, 0.2, 0.95),
    downMax: r.range(1, nodes),
    restartStepsMin,
    restartStepsMax: restartStepsMin + r.range(0, 600),
    midReadyCrashShare: r.float(),
    pauseRate: sometimes(0.4, 0.0002, 0.002),
    pauseStepsMax: r.range(10, electionTicks * tickSteps * 3),
    proposalRate: 0.005 + r.float() * 0.15,
    readRate: sometimes(0.3, 0.001, 0.03),
    confChangeRate: sometimes(0.3, 0.0005, 0.006),
    removeLeaderAllowed: r.chance(0.3),
    transferRate: sometimes(0.3, 0.0003, 0.004),
    compactEveryEntries: r.pick([3, 5, 10, 25, 60, 1000]),
    removedLingerStepsMax: r.range(0, 2000),
  };
}
