// @tugboat/chaos: chaos scenarios against a local cluster (tug chaos run): a scenario file,
// the workload and traffic kept on the cluster while faults hit it, the invariants judged from
// what was recorded, and the report made from the record a run leaves.
export { parseScenario, parseDuration, ScenarioError, FAULT_ACTIONS, TARGETS } from './scenario.ts';
export type { Scenario, Fault, FaultAction, Target } from './scenario.ts';
export { runScenario, RunError } from './runner.ts';
export type { RunOptions } from './runner.ts';
export type { CheckResult, FaultSpan, LeaderSample, PhaseAvailability, ReadySample, RequestBucket, RunRecord, WriteSample } from './record.ts';
export { renderHtml, renderSummary, writeReport } from './report.ts';
export type { ReportFiles } from './report.ts';
