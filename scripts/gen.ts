// scripts/gen.ts: regenerates the protobuf-es code of every target in gen-targets.ts (the
// production protos under proto/ into libs/proto/src/gen, the command-log member's test-only
// proto into test/support/command-log-member/gen) with buf and protoc-gen-es.
//
//   node scripts/gen.ts             delete each target's folder, then generate it afresh
//   node scripts/gen.ts --out DIR   generate into DIR/<folder> instead and leave the committed
//                                   code alone (the staleness test uses this)
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { genTargets } from './gen-targets.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const binDir = join(repoRoot, 'node_modules', '.bin');

const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });

if (!existsSync(join(binDir, 'buf')) || !existsSync(join(binDir, 'protoc-gen-es'))) {
  console.error(`gen: buf or protoc-gen-es missing from ${binDir}; run npm ci (or deploy/setup.sh)`);
  process.exit(1);
}

for (const { template, genDir } of genTargets) {
  const args = ['generate', '--template', template];
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
    console.error(`gen: buf generate --template ${template} failed (exit ${String(result.status ?? result.signal)})`);
    process.exit(1);
  }
}
