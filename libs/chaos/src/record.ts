// record.ts: what a scenario run leaves behind for its report: the faults, the samples taken
// while it ran, and the verdict of every check. Times are ms since the run started.

/** FaultSpan is one fault, from its injection to its heal (endMs undefined: never healed). */
export interface FaultSpan {
  /** The action, e.g. kill-leader, partition, netem. */
  readonly action: string;
  /** What it hit, e.g. "node-2" or "node-1,node-2 from node-3". */
  readonly target: string;
  readonly startMs: number;
  readonly endMs: number | undefined;
}

/** LeaderSample is who led, as a member answered, at one moment (leader '' : none known). */
export interface LeaderSample {
  readonly atMs: number;
  readonly leader: string;
  readonly term: number;
}

/** ReadySample is the workload's ready replicas against the desired count at one moment. */
export interface ReadySample {
  readonly atMs: number;
  readonly ready: number;
  readonly desired: number;
}

/** RequestBucket counts the service requests sent in one second, by outcome. */
export interface RequestBucket {
  /** Start of the second. */
  readonly atMs: number;
  readonly answered: number;
  readonly failed: number;
}

/** WriteSample is one API write of the workload's clients: when it was sent, how long it took, and how it ended. */
export interface WriteSample {
  readonly atMs: number;
  readonly latencyMs: number;
  readonly outcome: 'ok' | 'conflict' | 'fail' | 'unknown';
}

/** PhaseAvailability is the share of service requests answered during one phase. */
export interface PhaseAvailability {
  /** "steady" (no fault), a fault's action (e.g. "kill-leader"), or "recovering". */
  readonly phase: string;
  readonly requests: number;
  readonly answered: number;
}

/** CheckResult is one invariant's verdict, with the figures or the evidence that decided it. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** RunRecord is everything a report shows. */
export interface RunRecord {
  readonly scenario: string;
  readonly description: string;
  readonly seed: number;
  readonly cluster: string;
  /** ISO time the run started. */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly faults: readonly FaultSpan[];
  readonly leaders: readonly LeaderSample[];
  readonly ready: readonly ReadySample[];
  readonly requests: readonly RequestBucket[];
  readonly writes: readonly WriteSample[];
  readonly phases: readonly PhaseAvailability[];
  readonly checks: readonly CheckResult[];
  /** How to run this again: the command line with the seed. */
  readonly rerun: string;
}
