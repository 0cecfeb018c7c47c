// gen.test.ts (npm run check:gen): the generated code committed in every folder of
// gen-targets.ts (libs/proto/src/gen, test/support/command-log-member/gen) is what `npm run gen`
// makes from the .proto files today, and libs/proto/src/index.ts re-exports all of its own.
// Fails naming every stale, missing or extra file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { genTargets } from './gen-targets.ts';

const repoRoot = resolve(import.meta.dirname, '..');

/** listFiles returns the paths of all files under dir, relative to dir, sorted. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

test('generated code is up to date with the .proto files', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'tug-gen-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  const run = spawnSync(process.execPath, [join(import.meta.dirname, 'gen.ts'), '--out', tmp], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `scripts/gen.ts --out failed:\n${run.stdout}${run.stderr}`);

  const problems: string[] = [];
  for (const { template, genDir } of genTargets) {
    const freshDir = join(tmp, genDir);
    const committedDir = join(repoRoot, genDir);
    const fresh = listFiles(freshDir);
    const committed = new Set(listFiles(committedDir));
    assert.ok(fresh.length > 0, `buf generated nothing into ${genDir} with ${template}: is its .proto input there?`);

    for (const f of fresh) {
      if (!committed.has(f)) {
        problems.push(`missing: ${genDir}/${f}`);
      } else if (!readFileSync(join(freshDir, f)).equals(readFileSync(join(committedDir, f)))) {
        problems.push(`stale:   ${genDir}/${f}`);
      }
      committed.delete(f);
    }
    for (const f of committed) problems.push(`extra:   ${genDir}/${f}`);
  }

  assert.deepEqual(problems, [], `generated code differs from the .proto files; run \`npm run gen\`:\n  ${problems.join('\n  ')}`);
});

test('libs/proto/src/index.ts re-exports every module generated into libs/proto/src/gen', () => {
  const index = readFileSync(join(repoRoot, 'libs/proto/src/index.ts'), 'utf8');
  const modules = listFiles(join(repoRoot, 'libs/proto/src/gen')).filter((f) => f.endsWith('_pb.js'));
  const missing = modules.filter((f) => !index.includes(`'./gen/${f}'`));
  assert.deepEqual(missing, [], `add to libs/proto/src/index.ts: ${missing.map((f) => `export * from './gen/${f}';`).join(' ')}`);
});
