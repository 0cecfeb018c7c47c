// chaos-scenarios.test.ts: every shipped chaos scenario (test/chaos/scenarios/*.yaml) in its
// short form, through `tug chaos run`, against one local cluster of three control nodes (root):
// each must pass every check and write its report, and a report's HTML page, opened from disk
// in headless Chromium, must draw its timeline. Each scenario prints its seed; a failure's
// output ends with the command that runs it again. Needs root, containerd, runc and the CNI
// plugins (deploy/setup.sh); installs Debian's chromium package when it is missing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCaptured } from '@tugboat/cli';
import { downCluster, upCluster } from '@tugboat/localcluster';
import { ensureChromium, runHeadless } from '../support/chromium.ts';

const NAME = `cs${process.pid % 100000}`;
const SCENARIOS = fileURLToPath(new URL('../chaos/scenarios/', import.meta.url));
const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml')).sort();

describe('chaos scenarios, short form', { timeout: 1_800_000 }, () => {
  let reports: string;

  before(async () => {
    reports = mkdtempSync(join(tmpdir(), 'tug-chaos-scenarios-'));
    await upCluster({ name: NAME, nodes: 3, control: 3, timeoutMs: 120_000 });
  });

  after(async () => {
    const r = await downCluster(NAME);
    assert.deepEqual(r.left, [], 'down leaves nothing after the scenarios');
    if (process.env['TUG_KEEP_TEST_DIRS'] === '1') console.log(`reports kept in ${reports}`);
    else rmSync(reports, { recursive: true, force: true });
  });

  it('ships the seven scenarios', () => {
    assert.deepEqual(files.map((f) => f.replace(/\.yaml$/, '')), [
      'control-partitions',
      'leader-killed-repeatedly',
      'lossy-network',
      'node-partitioned-from-control',
      'paused-leader-wakes',
      'rolling-control-restart',
      'worker-killed-during-rollout',
    ]);
  });

  for (const file of files) {
    const scenario = file.replace(/\.yaml$/, '');
    it(`${scenario} passes every check and writes its report`, async () => {
      let out = '';
      const r = await runCaptured(['chaos', 'run', join(SCENARIOS, file), '--name', NAME, '--report', join(reports, scenario)], { onOutput: (text) => (out += text) });
      assert.equal(r.code, 0, out);
      assert.match(out, new RegExp(`PASS  ${scenario}  seed \\d+`), out);
      for (const f of ['summary.txt', 'report.html', 'record.json']) assert.ok(existsSync(join(reports, scenario, f)), `${f} written`);
    });
  }

  it("a report's page draws its timeline in a browser", async () => {
    const chromium = await ensureChromium();
    const page = join(reports, files[0]!.replace(/\.yaml$/, ''), 'report.html');
    const dom = await runHeadless(chromium, pathToFileURL(page).href, ['--dump-dom'], { profileDir: join(reports, 'profile') });
    const body = /<body[^>]*>/.exec(dom)?.[0] ?? '';
    assert.match(body, /data-charts="5"/, body);
    assert.doesNotMatch(body, /data-charts-error/, body);
  });
});
