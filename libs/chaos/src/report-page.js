/* global Chart, document */
// report-page.js: the script of a chaos run's report.html (report.ts inlines it after Chart.js),
// run by the browser. It draws the run's timeline from the RunRecord embedded as JSON in the
// element #run-record: five charts in #timeline, one above the other, on the same x axis
// (seconds since the run started, 0 to the run's duration), their plots lined up by fixed axis
// widths: faults (a bar per fault, a row per action), leader (with its term), ready replicas
// against desired, service availability per second, API write latency. Fault intervals are
// shaded on all but the first. No animation, so a page drawn once is drawn completely.
// When every chart is drawn, the body's data-charts attribute holds their number; when
// anything fails, its data-charts-error holds the message, which #charts-error shows too.
// Being inlined, this file must never hold the characters that open a comment or close an
// element inside a script element (report.ts refuses it then).
'use strict';

(() => {
  /** Width of every chart's left y axis and of its right one (or padding in its place), px. */
  const LEFT_AXIS_PX = 110;
  const RIGHT_AXIS_PX = 60;
  const FAULT_SHADE = 'rgba(214, 39, 40, 0.08)';
  const ACTION_COLOURS = ['#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  const OUTCOME_COLOURS = { ok: '#1f77b4', conflict: '#ff7f0e', fail: '#d62728', unknown: '#9467bd' };
  /** Latencies under this are drawn at it, since the latency axis is logarithmic (ms). */
  const LATENCY_FLOOR_MS = 0.1;
  const NO_LEADER = '(none)';

  const seconds = (ms) => ms / 1000;
  const count = (n) => n.toLocaleString('en-US');

  /** shadeFaults is a plugin that fills each fault's interval lightly behind the datasets. */
  function shadeFaults(spans) {
    return {
      id: 'shadeFaults',
      beforeDatasetsDraw(chart) {
        const { ctx, chartArea, scales } = chart;
        ctx.save();
        ctx.fillStyle = FAULT_SHADE;
        for (const span of spans) {
          const left = Math.max(scales.x.getPixelForValue(seconds(span.startMs)), chartArea.left);
          const right = Math.min(scales.x.getPixelForValue(seconds(span.endMs)), chartArea.right);
          if (right > left) ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
        }
        ctx.restore();
      },
    };
  }

  function leftAxis(title, more) {
    return { position: 'left', title: { display: true, text: title }, afterFit: (axis) => { axis.width = LEFT_AXIS_PX; }, ...more };
  }

  function rightAxis(title, more) {
    return {
      position: 'right',
      title: { display: true, text: title },
      grid: { drawOnChartArea: false },
      afterFit: (axis) => { axis.width = RIGHT_AXIS_PX; },
      ...more,
    };
  }

  /** rowAxis is a y axis with one labelled row per entry of rows, the first at the top. */
  function rowAxis(title, rows) {
    return leftAxis(title, {
      min: -0.5,
      max: rows.length - 0.5,
      reverse: true,
      afterBuildTicks: (axis) => { axis.ticks = rows.map((_, value) => ({ value })); },
      ticks: { autoSkip: false, callback: (value) => rows[value] ?? '' },
    });
  }

  /** options are a chart's options: the shared x axis, the given y axes, no animation. */
  function options(record, title, yAxes, more) {
    const hasRightAxis = Object.values(yAxes).some((axis) => axis.position === 'right');
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      layout: { padding: { right: hasRightAxis ? 0 : RIGHT_AXIS_PX } },
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', min: 0, max: seconds(record.durationMs), title: { display: true, text: 'seconds since start' } },
        ...yAxes,
      },
      ...more,
      plugins: {
        title: { display: true, text: title, align: 'start', font: { size: 14 } },
        legend: { position: 'top', align: 'end', labels: { usePointStyle: true, boxHeight: 7 } },
        ...more?.plugins,
        tooltip: {
          ...more?.plugins?.tooltip,
          callbacks: { title: (items) => `${items[0].parsed.x.toFixed(1)} s`, ...more?.plugins?.tooltip?.callbacks },
        },
      },
    };
  }

  function faultChart(record, spans) {
    const actions = [...new Set(spans.map((f) => f.action))];
    const rows = actions.length > 0 ? actions : ['(no faults)'];
    const datasets = actions.map((action, row) => ({
      label: action,
      data: spans
        .filter((f) => f.action === action)
        .flatMap((f) => [
          { x: seconds(f.startMs), y: row, fault: f, start: true },
          { x: seconds(f.endMs), y: row, fault: f },
          { x: seconds(f.endMs), y: null },
        ]),
      borderColor: ACTION_COLOURS[row % ACTION_COLOURS.length],
      backgroundColor: ACTION_COLOURS[row % ACTION_COLOURS.length],
      borderWidth: 10,
      borderCapStyle: 'butt',
      pointRadius: (ctx) => (ctx.raw?.start ? 3 : 0),
      pointBorderWidth: 1,
      spanGaps: false,
      segment: { borderDash: (ctx) => (ctx.chart.data.datasets[ctx.datasetIndex].data[ctx.p0DataIndex].fault?.healed === false ? [6, 3] : undefined) },
    }));
    const describe = (f) =>
      `${f.action} ${f.target}: ${seconds(f.startMs).toFixed(1)}-${seconds(f.endMs).toFixed(1)} s${f.healed ? '' : ' (never healed)'}`;
    const config = {
      type: 'line',
      data: { datasets },
      options: options(record, 'Faults (dashed: never healed)', { y: rowAxis('action', rows) }, {
        plugins: { legend: { display: false }, tooltip: { filter: (item) => item.raw.fault !== undefined, callbacks: { label: (item) => describe(item.raw.fault) } } },
      }),
    };
    return { config, heightPx: 90 + 26 * rows.length };
  }

  function leaderChart(record, spans) {
    const members = [...new Set(record.leaders.map((s) => s.leader).filter((l) => l !== ''))].sort();
    const rows = [NO_LEADER, ...members];
    const points = record.leaders.map((s, i) => ({
      x: seconds(s.atMs),
      y: s.leader === '' ? 0 : rows.indexOf(s.leader),
      leader: s.leader === '' ? NO_LEADER : s.leader,
      term: s.term,
      newTerm: i > 0 && s.term !== record.leaders[i - 1].term,
    }));
    const config = {
      type: 'line',
      data: {
        datasets: [
          { label: 'leader (dot: new term)', data: points, yAxisID: 'y', stepped: true, pointStyle: 'circle', borderColor: '#1f77b4', backgroundColor: '#1f77b4', pointRadius: (ctx) => (ctx.raw?.newTerm ? 4 : 0) },
          { label: 'term', data: points.map((p) => ({ x: p.x, y: p.term })), yAxisID: 'y1', stepped: true, pointStyle: 'line', borderColor: '#7f7f7f', borderDash: [4, 3], borderWidth: 1, pointRadius: 0 },
        ],
      },
      options: options(record, 'Leader', { y: rowAxis('leader', rows), y1: rightAxis('term', { ticks: { precision: 0 } }) }, {
        plugins: { tooltip: { callbacks: { label: (item) => (item.datasetIndex === 0 ? `leader ${item.raw.leader}, term ${item.raw.term}` : `term ${item.raw.y}`) } } },
      }),
      plugins: [shadeFaults(spans)],
    };
    return { config, heightPx: 90 + 34 * Math.max(2, rows.length) };
  }

  function readyChart(record, spans) {
    const at = (s) => seconds(s.atMs);
    const config = {
      type: 'line',
      data: {
        datasets: [
          { label: 'ready', data: record.ready.map((s) => ({ x: at(s), y: s.ready })), stepped: true, pointStyle: 'line', borderColor: '#2ca02c', backgroundColor: '#2ca02c', pointRadius: 0 },
          { label: 'desired', data: record.ready.map((s) => ({ x: at(s), y: s.desired })), stepped: true, pointStyle: 'line', borderColor: '#7f7f7f', backgroundColor: '#7f7f7f', borderDash: [6, 3], pointRadius: 0 },
        ],
      },
      options: options(record, 'Ready replicas', { y: leftAxis('replicas', { min: 0, ticks: { precision: 0 } }) }),
      plugins: [shadeFaults(spans)],
    };
    return { config, heightPx: 220 };
  }

  function availabilityChart(record, spans) {
    const buckets = record.requests.map((b) => ({ x: seconds(b.atMs), requests: b.answered + b.failed, answered: b.answered }));
    const config = {
      type: 'line',
      data: {
        datasets: [
          {
            label: '% answered',
            data: buckets.map((b) => ({ x: b.x, y: b.requests === 0 ? null : (100 * b.answered) / b.requests })),
            yAxisID: 'y',
            stepped: true,
            pointStyle: 'line',
            borderColor: '#1f77b4',
            backgroundColor: '#1f77b4',
            pointRadius: 0,
            spanGaps: false,
          },
          { label: 'requests', data: buckets.map((b) => ({ x: b.x, y: b.requests })), yAxisID: 'y1', stepped: true, pointStyle: 'line', borderColor: '#999999', backgroundColor: '#999999', borderWidth: 1, pointRadius: 0 },
        ],
      },
      options: options(record, 'Service availability per second', { y: leftAxis('% answered', { min: 0, max: 100 }), y1: rightAxis('requests/s', { min: 0, grace: '25%', ticks: { precision: 0 } }) }, {
        plugins: { tooltip: { callbacks: { label: (item) => (item.datasetIndex === 0 ? `${item.parsed.y.toFixed(1)}% answered` : `${count(item.parsed.y)} requests`) } } },
      }),
      plugins: [shadeFaults(spans)],
    };
    return { config, heightPx: 240 };
  }

  function writeChart(record, spans) {
    const datasets = Object.entries(OUTCOME_COLOURS).map(([outcome, colour]) => {
      const writes = record.writes.filter((w) => w.outcome === outcome);
      return {
        label: `${outcome} (${count(writes.length)})`,
        data: writes.map((w) => ({ x: seconds(w.atMs), y: Math.max(w.latencyMs, LATENCY_FLOOR_MS), latencyMs: w.latencyMs, outcome })),
        borderColor: colour,
        backgroundColor: colour,
        pointRadius: 2,
      };
    });
    const config = {
      type: 'scatter',
      data: { datasets },
      options: options(record, 'API write latency', { y: leftAxis('latency (ms, log)', { type: 'logarithmic' }) }, {
        interaction: { mode: 'nearest', intersect: true },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.raw.outcome}: ${item.raw.latencyMs} ms` } } },
      }),
      plugins: [shadeFaults(spans)],
    };
    return { config, heightPx: 280 };
  }

  /** drawTimeline draws the charts into #timeline and returns how many it drew. */
  function drawTimeline(record) {
    if (typeof Chart === 'undefined') throw new Error('Chart.js is not loaded');
    const spans = record.faults.map((f) => ({ ...f, endMs: f.endMs ?? record.durationMs, healed: f.endMs !== undefined }));
    const charts = [faultChart, leaderChart, readyChart, availabilityChart, writeChart].map((chart) => chart(record, spans));
    const timeline = document.getElementById('timeline');
    for (const { config, heightPx } of charts) {
      const box = document.createElement('div');
      box.className = 'chart';
      box.style.height = `${heightPx}px`;
      const canvas = document.createElement('canvas');
      box.append(canvas);
      timeline.append(box);
      new Chart(canvas, config);
    }
    return charts.length;
  }

  try {
    const record = JSON.parse(document.getElementById('run-record').textContent);
    document.body.dataset.charts = String(drawTimeline(record));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    document.body.dataset.chartsError = message;
    const shown = document.getElementById('charts-error');
    shown.textContent = `The timeline could not be drawn: ${message}`;
    shown.hidden = false;
  }
})();
