// gen.test.ts: the generated code committed under libs/proto/src/gen is what `npm run gen`
// makes from proto/ today. Fails naming every stale, missing or extra file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '../../..');
const genRel = 'libs/proto/src/gen';

/** listFiles returns the paths of all files under dir, relative to dir, sorted. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

test('generated code under libs/proto/src/gen is up to date with proto/', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'tug-gen-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  const run = spawnSync(process.execPath, [join(repoRoot, 'scripts/gen.ts'), '--out', tmp], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `scripts/gen.ts --out failed:\n${run.stdout}${run.stderr}`);

  const freshDir = join(tmp, genRel);
  const committedDir = join(repoRoot, genRel);
  const fresh = listFiles(freshDir);
  const committed = new Set(listFiles(committedDir));
  assert.ok(fresh.length > 0, 'buf generated nothing: is there a .proto under proto/?');

  const problems: string[] = [];
  for (const f of fresh) {
    if (!committed.has(f)) {
      problems.push(`missing: ${genRel}/${f}`);
    } else if (!readFileSync(join(freshDir, f)).equals(readFileSync(join(committedDir, f)))) {
      problems.push(`stale:   ${genRel}/${f}`);
    }
    committed.delete(f);
  }
  for (const f of committed) problems.push(`extra:   ${genRel}/${f}`);

  assert.deepEqual(problems, [], `generated code differs from proto/; run \`npm run gen\`:\n  ${problems.join('\n  ')}`);
});

test('index.ts re-exports every generated module', () => {
  const index = readFileSync(join(repoRoot, 'libs/proto/src/index.ts'), 'utf8');
  const modules = listFiles(join(repoRoot, genRel)).filter((f) => f.endsWith('_pb.js'));
  const missing = modules.filter((f) => !index.includes(`'./gen/${f}'`));
  assert.deepEqual(missing, [], `add to libs/proto/src/index.ts: ${missing.map((f) => `export * from './gen/${f}';`).join(' ')}`);
});
