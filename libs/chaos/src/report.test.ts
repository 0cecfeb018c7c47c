// report.test.ts: the report of a chaos run. The summary states the verdict, faults,
// availability, writes, leaders and checks of a made-up two-minute run exactly, stays short
// for a 30-minute run, and copes with a record that holds nothing; the HTML page inlines
// Chart.js with no external script, embeds the record so that it parses back, and a record
// whose strings close script elements cannot break out of them; writeReport writes all three
// files. (test/e2e/chaos-report-browser.test.ts draws the page in a browser.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { renderHtml, renderSummary, writeReport } from '@tugboat/chaos';
import type { RunRecord } from '@tugboat/chaos';
import { sampleRunRecord } from '@tugboat/chaos/testing';

const SCRIPT_BREAKOUT = '</script><script>alert(1)</script>';

/** recordJson is the JSON embedded in a report page's <script id="run-record">. */
function recordJson(html: string): string {
  const embedded = /<script type="application\/json" id="run-record">(.*?)<\/script>/s.exec(html);
  assert.ok(embedded, 'the page embeds the record in <script id="run-record">');
  return embedded[1]!;
}

/** asJson is r as it reads back from JSON (faults never healed lose their endMs). */
function asJson(r: RunRecord): unknown {
  return JSON.parse(JSON.stringify(r));
}

describe('renderSummary', () => {
  it('states verdict, faults, availability per phase, writes, leaders, ready replicas, checks and the rerun command', () => {
    assert.equal(
      renderSummary(sampleRunRecord()),
      `FAIL  leader-churn  seed 42  2m00s
started 2026-12-07T16:00:00.000Z on cluster chaos-test
faults: 4 (kill-leader x2, partition x1, pause-node x1), 1 never healed
availability (service requests answered):
  steady        99.9% (839 of 840)
  kill-leader   92.5% (296 of 320)
  recovering   100.0% (340 of 340)
  partition    100.0% (300 of 300)
  pause-node   100.0% (600 of 600)
writes: 600 (ok 588, conflict 4, fail 4, unknown 4); ok latency p50 6.0 ms, p99 250 ms, max 250 ms
leaders: 3 distinct (node-1, node-2, node-3) in terms 2-4 (3 seen), 2 changes; no leader known for 4.0s
ready replicas: lowest 1 of 3 at 1m00s; 3 of 3 at the end
checks: 3 of 4 passed
  ✓ no-lost-writes: every acknowledged write read back
  ✓ linearizable: history of writes and reads is linearizable
  ✗ leader-elected: no leader for 2.0s after a kill, 1.5s allowed
      at 20s: term 3, node-2 led at 22s
      at 80s: term 4, node-3 led at 82s
      (1 more line in report.html)
  ✓ converges: 3 of 3 ready 6s after the last heal
rerun: tug chaos run scenarios/leader-churn.yaml --seed 42 --report out/leader-churn
`,
    );
  });

  it('is at most 30 lines for a 30-minute run with per-second samples', () => {
    const r = sampleRunRecord({ durationS: 1800 });
    assert.equal(r.requests.length, 1800);
    const lines = renderSummary(r).trimEnd().split('\n');
    assert.ok(lines.length <= 30, `${lines.length} lines:\n${lines.join('\n')}`);
    assert.equal(lines[0], 'FAIL  leader-churn  seed 42  30m00s');
    assert.match(lines.find((l) => l.startsWith('faults:'))!, /kill-leader x30/);
    assert.equal(lines.at(-1), `rerun: ${r.rerun}`);
  });

  it('says PASS when every check is ok', () => {
    const r = sampleRunRecord();
    const summary = renderSummary({ ...r, checks: r.checks.map((c) => ({ ...c, ok: true })) });
    assert.match(summary, /^PASS {2}leader-churn {2}seed 42 {2}2m00s\n/);
    assert.match(summary, /checks: 4 of 4 passed/);
    assert.doesNotMatch(summary, /✗/);
  });

  it('says 100.0% only when every request was answered', () => {
    const summary = renderSummary({ ...sampleRunRecord(), phases: [{ phase: 'steady', requests: 10_000, answered: 9_999 }] });
    assert.match(summary, /steady +99\.9% \(9,999 of 10,000\)/);
  });

  it('copes with a record that holds no samples, faults or checks', () => {
    const r: RunRecord = {
      ...sampleRunRecord(),
      faults: [],
      leaders: [],
      ready: [],
      requests: [],
      writes: [],
      phases: [],
      checks: [],
    };
    const summary = renderSummary(r);
    for (const line of ['faults: none', 'availability: no phases', 'writes: none', 'leaders: no samples', 'ready replicas: no samples', 'checks: 0 of 0 passed']) {
      assert.ok(summary.includes(`${line}\n`), `"${line}" in:\n${summary}`);
    }
    assert.match(renderHtml(r), /<div id="timeline">/);
  });
});

describe('renderHtml', () => {
  it('inlines Chart.js and loads nothing from the network', () => {
    const html = renderHtml(sampleRunRecord());
    const chartJsDir = dirname(createRequire(import.meta.url).resolve('chart.js'));
    assert.ok(html.includes(readFileSync(join(chartJsDir, 'chart.umd.min.js'), 'utf8')), 'the Chart.js UMD bundle is in the page');
    assert.doesNotMatch(html, /<script[^>]*\ssrc=/i);
    assert.doesNotMatch(html, /<link\b/i);
    assert.doesNotMatch(html, /(src|href)=["']?https?:/i);
  });

  it('states verdict and checks, the failed one marked', () => {
    const html = renderHtml(sampleRunRecord());
    assert.match(html, /<title>FAIL leader-churn seed 42 - tugboat chaos<\/title>/);
    assert.match(html, /<tr class="fail"><td>✗ FAILED<\/td><td>leader-elected<\/td>/);
    assert.equal(html.match(/<tr class="pass">/g)?.length, 3);
    assert.match(html, /p99 250 ms/);
  });

  it('embeds the record as JSON that parses back', () => {
    const r = sampleRunRecord();
    assert.deepEqual(JSON.parse(recordJson(renderHtml(r))), asJson(r));
  });

  it('keeps strings that close script elements inside the embedded JSON', () => {
    const r = sampleRunRecord({ description: SCRIPT_BREAKOUT });
    const hostile: RunRecord = { ...r, scenario: `<b>${r.scenario}`, checks: [...r.checks, { name: SCRIPT_BREAKOUT, ok: false, detail: '<!--' }] };
    const html = renderHtml(hostile);
    assert.equal(html.match(/<script/gi)?.length, 3, 'Chart.js, the record and the page script');
    assert.equal(html.match(/<\/script/gi)?.length, 3);
    assert.doesNotMatch(recordJson(html), /</);
    assert.deepEqual(JSON.parse(recordJson(html)), asJson(hostile));
    assert.ok(html.includes(`<p>&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;</p>`), 'the description is shown as text');
  });
});

describe('writeReport', () => {
  it('makes the directory and writes summary.txt, report.html and record.json, from which the report is made again', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tug-chaos-report-'));
    try {
      const r = sampleRunRecord();
      const files = writeReport(join(tmp, 'runs', 'leader-churn'), r);
      assert.deepEqual(files, {
        summaryFile: join(tmp, 'runs', 'leader-churn', 'summary.txt'),
        htmlFile: join(tmp, 'runs', 'leader-churn', 'report.html'),
        recordFile: join(tmp, 'runs', 'leader-churn', 'record.json'),
      });
      assert.equal(readFileSync(files.summaryFile, 'utf8'), renderSummary(r));
      assert.equal(readFileSync(files.htmlFile, 'utf8'), renderHtml(r));
      const reread = JSON.parse(readFileSync(files.recordFile, 'utf8')) as RunRecord;
      assert.deepEqual(reread, asJson(r));
      assert.equal(renderSummary(reread), renderSummary(r));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
