// index.ts: @tugboat/chaos, tugboat's chaos scenario runner: the record a run leaves and the
// report made from it.
export type {
  CheckResult,
  FaultSpan,
  LeaderSample,
  PhaseAvailability,
  ReadySample,
  RequestBucket,
  RunRecord,
  WriteSample,
} from './record.ts';
export { renderHtml, renderSummary, writeReport } from './report.ts';
export type { ReportFiles } from './report.ts';
