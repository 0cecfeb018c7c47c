// scripts/gen.ts: regenerates libs/proto/src/gen from every .proto under proto/ with buf and
// protoc-gen-es (see buf.gen.yaml).
//
//   node scripts/gen.ts             delete libs/proto/src/gen, then generate it afresh
//   node scripts/gen.ts --out DIR   generate into DIR/libs/proto/src/gen instead and leave the
//                                   committed code alone (the staleness test uses this)
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const repoRoot = resolve(import.meta.dirname, '..');
const genDir = 'libs/proto/src/gen';
const binDir = join(repoRoot, 'node_modules', '.bin');

const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });

if (!existsSync(join(binDir, 'buf')) || !existsSync(join(binDir, 'protoc-gen-es'))) {
  console.error(`gen: buf or protoc-gen-es missing from ${binDir}; run npm ci (or deploy/setup.sh)`);
  process.exit(1);
}

const args = ['generate'];
if (values.out !== undefined) {
  args.push('--output', resolve(values.out));
} else {
  rmSync(join(repoRoot, genDir), { recursive: true, force: true });
}

// buf finds the local plugin protoc-gen-es on PATH, as `npx buf generate` would.
const result = spawnSync(join(binDir, 'buf'), args, {
  cwd: repoRoot,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${binDir}${delimiter}${process.env['PATH'] ?? ''}` },
});
if (result.error !== undefined) {
  console.error(`gen: cannot run buf: ${result.error.message}`);
  process.exit(1);
}
if (result.status !== 0) {
  console.error(`gen: buf generate failed (exit ${String(result.status ?? result.signal)})`);
  process.exit(1);
}
