// chaos-report-browser.test.ts: a chaos run's report.html as headless Chromium draws it, opened
// from disk with no network: the page script draws all five timeline charts (body
// data-charts="5", no data-charts-error), also for a record whose description tries to close
// the script element; without Chart.js the page says so instead. A screenshot (1200x1600) is
// saved beside the report: TUG_KEEP_TEST_DIRS=1 keeps the directory and prints its path, to
// look at it. Installs Debian's chromium package when it is missing (needs root then).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '@tugboat/chaos';
import { sampleRunRecord } from '@tugboat/chaos/testing';
import { ensureChromium, runHeadless } from '../support/chromium.ts';

/** CHARTS is how many charts the report's timeline has. */
const CHARTS = 5;

/** bodyTag is the opening <body> tag of a dumped DOM, where the page script leaves its result. */
function bodyTag(dom: string): string {
  const tag = /<body[^>]*>/.exec(dom);
  assert.ok(tag, `no <body> in the DOM Chromium dumped:\n${dom.slice(0, 500)}`);
  return tag[0];
}

describe('chaos report in a browser', { timeout: 900_000 }, () => {
  let chromium: string;
  let dir: string;
  let htmlFile: string;

  before(async () => {
    chromium = await ensureChromium();
    dir = mkdtempSync(join(tmpdir(), 'tug-chaos-report-browser-'));
    const record = sampleRunRecord({ durationS: 300, description: '</script><script>alert(1)</script>' });
    ({ htmlFile } = writeReport(join(dir, 'report'), record));
  });

  after(() => {
    if (dir === undefined) return;
    if (process.env['TUG_KEEP_TEST_DIRS'] === '1') console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('draws every chart of the timeline', async () => {
    const dom = await runHeadless(chromium, pathToFileURL(htmlFile).href, ['--dump-dom'], { profileDir: join(dir, 'profile') });
    const body = bodyTag(dom);
    assert.match(body, new RegExp(`data-charts="${CHARTS}"`), body);
    assert.doesNotMatch(body, /data-charts-error/, body);
    assert.equal(dom.match(/<canvas/g)?.length, CHARTS);
    assert.match(dom, /<p id="charts-error" hidden="">/);
  });

  it('says the timeline could not be drawn when Chart.js is missing', async () => {
    const withoutChartJs = join(dir, 'report', 'without-chart-js.html');
    writeFileSync(withoutChartJs, readFileSync(htmlFile, 'utf8').replace(/<script>[\s\S]*?<\/script>/, ''));
    const dom = await runHeadless(chromium, pathToFileURL(withoutChartJs).href, ['--dump-dom'], { profileDir: join(dir, 'profile') });
    assert.match(bodyTag(dom), /data-charts-error="Chart.js is not loaded"/);
    assert.match(dom, /<p id="charts-error">The timeline could not be drawn: Chart.js is not loaded<\/p>/);
  });

  it('saves a screenshot of the page', async () => {
    const png = join(dir, 'report.png');
    await runHeadless(chromium, pathToFileURL(htmlFile).href, [`--screenshot=${png}`, '--window-size=1200,1600'], { profileDir: join(dir, 'profile') });
    const image = readFileSync(png);
    assert.deepEqual([...image.subarray(1, 4)], [...Buffer.from('PNG')], 'a PNG file');
    assert.ok(image.length > 20_000, `a screenshot of ${image.length} bytes is too small to show charts`);
  });
});
