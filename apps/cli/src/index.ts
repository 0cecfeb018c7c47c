// @tugboat/cli: the `tug` command line (run apps/cli/src/main.ts). Exported for tests and for
// tools that run tug in-process: run(argv, io) returns the exit code; runCaptured(argv, opts)
// returns it with the output.
export { run, VERSION } from './cli.ts';
export type { Io } from './session.ts';
export { runCaptured } from './captured.ts';
export type { CapturedRun, CaptureOptions } from './captured.ts';
export { resolveTarget, parseConfig, loadConfig, parseDuration, splitEndpoints, DEFAULT_ENDPOINT } from './config.ts';
export type { Config, Context, Target, TargetInputs } from './config.ts';
export { UsageError, CliError, isUsageError, isCliError, formatError } from './errors.ts';
export { humanAge, renderTable, columnsFor, nameOf, typeName, podStatus, nodeStatus } from './table.ts';
export { merge3, planApply, manifestForApply, lastApplied, loadObjects, LAST_APPLIED } from './manifests.ts';
export { describe } from './describe.ts';
