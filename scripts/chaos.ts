// scripts/chaos.ts: `npm run chaos`: every shipped chaos scenario (test/chaos/scenarios) against
// a local cluster of three control nodes made for the purpose, one after another, then the
// cluster torn down. Arguments go to `tug chaos run`: `npm run chaos -- --duration 30m` gives
// the long forms. The reports land in REPORTS (default /var/lib/tugboat/chaos-reports/TIME),
// one folder per scenario. Exits 1 when a scenario failed a check. Root.
//
//   npm run chaos [-- --duration 30m] [-- --report DIR]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const NAME = 'chaos';
const tug = (args: readonly string[]): number => spawnSync(process.execPath, [join(repo, 'apps/cli/src/main.ts'), ...args], { stdio: 'inherit' }).status ?? 1;

const args = process.argv.slice(2);
const scenarios = readdirSync(join(repo, 'test/chaos/scenarios')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(repo, 'test/chaos/scenarios', f));
const report = args.includes('--report') ? [] : ['--report', join('/var/lib/tugboat/chaos-reports', new Date().toISOString().replace(/[-:]/g, '').slice(0, 15))];

if (tug(['cluster', 'up', '--name', NAME, '--nodes', '3', '--control', '3']) !== 0) process.exit(1);
let code = 1;
try {
  code = tug(['chaos', 'run', ...scenarios, '--name', NAME, ...report, ...args]);
} finally {
  tug(['cluster', 'down', '--name', NAME]);
}
process.exit(code);
