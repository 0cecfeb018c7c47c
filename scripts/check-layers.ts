// scripts/check-layers.ts: the layering checks that need the whole graph, which a per-file lint
// rule cannot see (`npm run lint` runs it after eslint, whose tugboat/import-boundaries rule
// checks each import):
// - the workspace packages' dependencies and devDependencies on each other have no cycle;
// - inside each package, the relative imports between non-test modules have no cycle.
// Prints each cycle found and exits 1 if there is any.
//
//   node scripts/check-layers.ts
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { readWorkspace } from './eslint/workspace.ts';

const repoRoot = resolve(import.meta.dirname, '..');

/**
 * findCycles returns one cycle (its nodes in import order) for each edge that closes a loop in
 * a depth-first walk of graph, so it finds a cycle whenever there is one, but not every
 * cycle through the same nodes.
 */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): void => {
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) cycles.push(path.slice(at));
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

/** tsFiles yields the modules under dir that are not tests: no *.test.ts, testdata/ or *.d.ts. */
function* tsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'testdata') yield* tsFiles(path);
    else if (entry.isFile() && /(?<!\.test|\.d)\.ts$/.test(entry.name)) yield path;
  }
}

const workspace = readWorkspace(repoRoot);
const problems: string[] = [];

const packageGraph = new Map(
  [...workspace.byName.values()].map((pkg) => [
    pkg.name,
    [...pkg.dependencies, ...pkg.devDependencies].filter((dep) => workspace.byName.has(dep)),
  ]),
);
for (const cycle of findCycles(packageGraph)) {
  problems.push(`package dependency cycle (package.json dependencies and devDependencies): ${cycle.concat(cycle.slice(0, 1)).join(' -> ')}`);
}

for (const pkg of workspace.byName.values()) {
  const pkgDir = join(repoRoot, pkg.dir);
  const files = new Set(tsFiles(pkgDir));
  const moduleGraph = new Map<string, string[]>();
  for (const file of files) {
    const imported = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles;
    const targets = imported.filter((i) => i.fileName.startsWith('.')).map((i) => resolve(dirname(file), i.fileName));
    moduleGraph.set(file, targets.filter((target) => files.has(target)));
  }
  for (const cycle of findCycles(moduleGraph)) {
    problems.push(`import cycle in ${pkg.name}: ${cycle.concat(cycle.slice(0, 1)).map((file) => relative(pkgDir, file)).join(' -> ')}`);
  }
}

for (const problem of problems) console.error(`check-layers: ${problem}`);
process.exit(problems.length === 0 ? 0 : 1);
