// report.ts: the report of a finished chaos scenario run, made from its RunRecord: a plain-text
// summary for the terminal (renderSummary), one self-contained HTML page with the same facts
// and a timeline of charts (renderHtml), and both written with the record itself into a
// directory (writeReport). The page needs no network: Chart.js (from the chart.js package) and
// the page's script (report-page.js) are inlined, and the record is embedded as JSON with every
// "<" escaped, so no string in it can end the script element it sits in.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  WRITE_OUTCOMES,
  formatCount,
  formatDuration,
  formatLatency,
  formatPercent,
  runFigures,
} from './figures.ts';
import type { RunFigures } from './figures.ts';
import type { CheckResult, PhaseAvailability, RunRecord } from './record.ts';

/** CHECK_DETAIL_LINES_MAX is how many lines of a check's detail the text summary shows. */
const CHECK_DETAIL_LINES_MAX = 3;

// ---------------------------------------------------------------------------------------------
// Facts: phrases the summary and the page share

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

function verdictOf(f: RunFigures): 'PASS' | 'FAIL' {
  return f.passed ? 'PASS' : 'FAIL';
}

function faultsPhrase(r: RunRecord, f: RunFigures): string {
  if (r.faults.length === 0) return 'none';
  const byAction = f.faultsByAction.map((a) => `${a.action} x${a.count}`).join(', ');
  return `${formatCount(r.faults.length)} (${byAction})${f.faultsUnhealed > 0 ? `, ${formatCount(f.faultsUnhealed)} never healed` : ''}`;
}

function writesPhrase(r: RunRecord, f: RunFigures): string {
  if (r.writes.length === 0) return 'none';
  const byOutcome = WRITE_OUTCOMES.map((o) => `${o} ${formatCount(f.writesByOutcome[o])}`).join(', ');
  const latency = f.okWriteLatency;
  const okLatency =
    latency === undefined
      ? 'no ok writes'
      : `ok latency p50 ${formatLatency(latency.p50Ms)}, p99 ${formatLatency(latency.p99Ms)}, max ${formatLatency(latency.maxMs)}`;
  return `${formatCount(r.writes.length)} (${byOutcome}); ${okLatency}`;
}

function leadersPhrase(r: RunRecord, f: RunFigures): string {
  if (r.leaders.length === 0) return 'no samples';
  const { leaders, terms, changes, noLeaderMs } = f.leaders;
  const who = leaders.length === 0 ? 'none seen' : `${leaders.length} distinct (${leaders.join(', ')})`;
  const termRange = terms.length === 1 ? `term ${terms[0]}` : `terms ${terms[0]}-${terms.at(-1)} (${terms.length} seen)`;
  const noLeader = noLeaderMs > 0 ? `; no leader known for ${formatDuration(noLeaderMs)}` : '';
  return `${who} in ${termRange}, ${plural(changes, 'change')}${noLeader}`;
}

function readyPhrase(f: RunFigures): string {
  const { lowestReady: lowest, lastReady: last } = f;
  if (lowest === undefined || last === undefined) return 'no samples';
  return `lowest ${lowest.ready} of ${lowest.desired} at ${formatDuration(lowest.atMs)}; ${last.ready} of ${last.desired} at the end`;
}

function phaseFigures(p: PhaseAvailability): string {
  return `${formatPercent(p.answered, p.requests).padStart('100.0%'.length)} (${formatCount(p.answered)} of ${formatCount(p.requests)})`;
}

function checksPhrase(r: RunRecord, f: RunFigures): string {
  return `${f.checksPassed} of ${r.checks.length} passed`;
}

// ---------------------------------------------------------------------------------------------
// Text

/**
 * renderSummary is the plain-text summary of a run for a terminal: the verdict (PASS when every
 * check is ok) with scenario, seed and duration; faults by action; availability per phase;
 * writes by outcome with ok latency; leaders and terms; ready replicas; every check with ✓ or ✗
 * and its detail (its first lines, when long); the rerun command last. Its length grows with
 * the number of phases and checks, not with the run's duration.
 */
export function renderSummary(r: RunRecord): string {
  const f = runFigures(r);
  const phaseWidth = Math.max(0, ...r.phases.map((p) => p.phase.length));
  const lines = [
    `${verdictOf(f)}  ${r.scenario}  seed ${r.seed}  ${formatDuration(r.durationMs)}`,
    `started ${r.startedAt} on cluster ${r.cluster}`,
    `faults: ${faultsPhrase(r, f)}`,
    r.phases.length === 0 ? 'availability: no phases' : 'availability (service requests answered):',
    ...r.phases.map((p) => `  ${p.phase.padEnd(phaseWidth)}  ${phaseFigures(p)}`),
    `writes: ${writesPhrase(r, f)}`,
    `leaders: ${leadersPhrase(r, f)}`,
    `ready replicas: ${readyPhrase(f)}`,
    `checks: ${checksPhrase(r, f)}`,
    ...r.checks.flatMap(checkLines),
    `rerun: ${r.rerun}`,
  ];
  return `${lines.join('\n')}\n`;
}

function checkLines(c: CheckResult): string[] {
  const [first = '', ...more] = c.detail.split('\n');
  const shown = more.slice(0, CHECK_DETAIL_LINES_MAX - 1).map((line) => `      ${line}`);
  const left = more.length - shown.length;
  return [
    `  ${c.ok ? '✓' : '✗'} ${c.name}${first === '' ? '' : `: ${first}`}`,
    ...shown,
    ...(left > 0 ? [`      (${plural(left, 'more line')} in report.html)`] : []),
  ];
}

// ---------------------------------------------------------------------------------------------
// HTML

const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; } h1 small { color: #666; font-weight: normal; }
h2 { font-size: 17px; margin: 24px 0 8px; }
.verdict { padding: 2px 8px; border-radius: 4px; color: #fff; }
.verdict.pass { background: #1a7f37; } .verdict.fail { background: #cf222e; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.pass td:first-child { color: #1a7f37; font-weight: bold; }
tr.fail td { background: #ffebe9; } tr.fail td:first-child { color: #cf222e; font-weight: bold; }
pre { margin: 0; white-space: pre-wrap; font: 12px/1.4 ui-monospace, monospace; }
code { font: 13px ui-monospace, monospace; background: #f4f4f4; padding: 1px 4px; }
#charts-error { color: #cf222e; font-weight: bold; }
.chart { position: relative; width: 100%; margin-bottom: 8px; }
`;

/** escapeHtml makes text safe as element content and as a quoted attribute value. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** scriptJson is value as JSON for a script element: "<" escaped, so "</script" cannot end it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * scriptSource reads a script to inline, which must contain neither "</script" (it would end
 * the element) nor "<!--" (after which a "<script" would keep the next "</script" from ending it).
 */
function scriptSource(what: string, file: string): string {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`report.html: cannot read ${what} from ${file}: ${(err as Error).message}`, { cause: err });
  }
  const unsafe = /<\/script|<!--/i.exec(source);
  if (unsafe !== null) throw new Error(`report.html: ${what} (${file}) contains "${unsafe[0]}" at ${unsafe.index} and cannot be inlined`);
  return source;
}

/** chartJsFile is Chart.js's UMD bundle, beside the entry point of the chart.js package. */
function chartJsFile(): string {
  return join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
}

function checksTable(r: RunRecord): string {
  const rows = r.checks.map(
    (c) =>
      `<tr class="${c.ok ? 'pass' : 'fail'}"><td>${c.ok ? '✓ ok' : '✗ FAILED'}</td><td>${escapeHtml(c.name)}</td><td><pre>${escapeHtml(c.detail)}</pre></td></tr>`,
  );
  return `<table class="checks"><tr><th></th><th>check</th><th>detail</th></tr>${rows.join('')}</table>`;
}

function phasesTable(r: RunRecord): string {
  const rows = r.phases.map(
    (p) =>
      `<tr><td>${escapeHtml(p.phase)}</td><td class="number">${formatPercent(p.answered, p.requests)}</td>` +
      `<td class="number">${formatCount(p.answered)}</td><td class="number">${formatCount(p.requests)}</td></tr>`,
  );
  return `<table><tr><th>phase</th><th>% answered</th><th>answered</th><th>requests</th></tr>${rows.join('')}</table>`;
}

function faultsTable(r: RunRecord): string {
  const rows = r.faults.map(
    (f) =>
      `<tr><td>${escapeHtml(f.action)}</td><td>${escapeHtml(f.target)}</td><td class="number">${formatDuration(f.startMs)}</td>` +
      `<td class="number">${f.endMs === undefined ? 'never healed' : `${formatDuration(f.endMs)}`}</td>` +
      `<td class="number">${f.endMs === undefined ? '' : formatDuration(f.endMs - f.startMs)}</td></tr>`,
  );
  return (
    `<details><summary>${plural(r.faults.length, 'fault')}, in order</summary>` +
    `<table><tr><th>action</th><th>target</th><th>injected at</th><th>healed at</th><th>lasted</th></tr>${rows.join('')}</table></details>`
  );
}

/**
 * renderHtml is the report of a run as one HTML page that opens from disk with no network:
 * the verdict, the summary's facts, the checks (failed ones in red), a timeline of five charts on one x axis (seconds since start): faults,
 * leader and term, ready replicas against desired, service availability per second, API write
 * latency by outcome; then availability per phase and the list of faults. Chart.js and the page's script are inlined; r is embedded as JSON in
 * <script id="run-record">. Once drawn, <body data-charts="5">; if drawing fails,
 * <body data-charts-error="..."> and the message on the page.
 * Throws when Chart.js cannot be read from the chart.js package.
 */
export function renderHtml(r: RunRecord): string {
  const f = runFigures(r);
  const verdict = verdictOf(f);
  const factRows = [
    ['started', `${r.startedAt} on cluster ${r.cluster}`],
    ['duration', formatDuration(r.durationMs)],
    ['faults', faultsPhrase(r, f)],
    ['writes', writesPhrase(r, f)],
    ['leaders', leadersPhrase(r, f)],
    ['ready replicas', readyPhrase(f)],
    ['checks', checksPhrase(r, f)],
  ].map(([label, text]) => `<dt>${label}</dt><dd>${escapeHtml(text!)}</dd>`);
  const chartJs = scriptSource('Chart.js', chartJsFile());
  const pageScript = scriptSource('the page script', join(import.meta.dirname, 'report-page.js'));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`${verdict} ${r.scenario} seed ${r.seed} - tugboat chaos`)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<h1><span class="verdict ${verdict.toLowerCase()}">${verdict}</span> ${escapeHtml(r.scenario)} <small>seed ${r.seed}</small></h1>
<p>${escapeHtml(r.description)}</p>
<dl class="facts">${factRows.join('')}<dt>rerun</dt><dd><code>${escapeHtml(r.rerun)}</code></dd></dl>
<h2>Checks</h2>
${checksTable(r)}
<h2>Timeline</h2>
<p id="charts-error" hidden></p>
<div id="timeline"></div>
<h2>Availability by phase</h2>
${phasesTable(r)}
<h2>Faults</h2>
${faultsTable(r)}
<script>${chartJs}</script>
<script type="application/json" id="run-record">${scriptJson(r)}</script>
<script>${pageScript}</script>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// Files

/** ReportFiles are the paths writeReport wrote. */
export interface ReportFiles {
  /** DIR/summary.txt: renderSummary's text. */
  readonly summaryFile: string;
  /** DIR/report.html: renderHtml's page. */
  readonly htmlFile: string;
  /** DIR/record.json: the RunRecord as JSON, to make the report again from. */
  readonly recordFile: string;
}

/**
 * writeReport makes dir (and its parents) if missing and writes the report of r into it:
 * summary.txt, report.html and record.json, replacing files of those names.
 */
export function writeReport(dir: string, r: RunRecord): ReportFiles {
  const files: ReportFiles = {
    summaryFile: join(dir, 'summary.txt'),
    htmlFile: join(dir, 'report.html'),
    recordFile: join(dir, 'record.json'),
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(files.summaryFile, renderSummary(r));
  writeFileSync(files.htmlFile, renderHtml(r));
  writeFileSync(files.recordFile, `${JSON.stringify(r)}\n`);
  return files;
}
