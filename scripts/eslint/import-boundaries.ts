// scripts/eslint/import-boundaries.ts: the lint rule tugboat/import-boundaries, which keeps the
// layering of the workspace. It looks at every string literal given to import, export ... from,
// import() and import.meta.resolve() in a file of a workspace package (libs/X or apps/X):
// - Another workspace package must be declared in the package's package.json: in
//   "dependencies", or for test files (*.test.ts, anything under a testdata/ folder) in
//   "dependencies" or "devDependencies". Importing the package's own name is fine.
// - A lib never imports an app, not even in tests; an app imports another app only from tests.
// - A relative import stays inside its package: code of another package is imported by that
//   package's name, and test/ and scripts/ at the root are never imported.
// Files outside libs/ and apps/ (test/, scripts/, deploy/) may import any package.
import type { Rule } from 'eslint';
import type * as ESTree from 'estree';
import { dirname, relative, resolve, sep } from 'node:path';
import { workspaceFor } from './workspace.ts';
import type { WorkspacePackage } from './workspace.ts';

/** rootDirsNeverImported are the folders at the root whose code libs and apps may not import. */
const rootDirsNeverImported = new Set(['test', 'scripts']);

/** packageNameOf('@tugboat/apiserver/testing') is '@tugboat/apiserver'; packageNameOf('yaml/util') is 'yaml'. */
function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}

function isTestFile(pathInPackage: string): boolean {
  return pathInPackage.endsWith('.test.ts') || pathInPackage.split(sep).includes('testdata');
}

function isImportMetaResolve(node: ESTree.CallExpression): boolean {
  const callee = node.callee;
  return (
    callee.type === 'MemberExpression' &&
    callee.object.type === 'MetaProperty' &&
    callee.object.meta.name === 'import' &&
    callee.object.property.name === 'meta' &&
    callee.property.type === 'Identifier' &&
    callee.property.name === 'resolve'
  );
}

/** packageViolation says what is wrong when pkg imports dep (another package) from a test or not. */
function packageViolation(pkg: WorkspacePackage, dep: WorkspacePackage, inTest: boolean): string | undefined {
  if (pkg.kind === 'lib' && dep.kind === 'app') return 'libImportsApp';
  if (pkg.kind === 'app' && dep.kind === 'app' && !inTest) return 'appImportsApp';
  if (pkg.dependencies.has(dep.name) || (inTest && pkg.devDependencies.has(dep.name))) return undefined;
  if (inTest) return 'undeclaredInTest';
  return pkg.devDependencies.has(dep.name) ? 'devOnly' : 'undeclared';
}

export const importBoundaries: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keep imports within the layering of the workspace packages (libs may use libs, apps may use libs).' },
    schema: [],
    messages: {
      undeclared: '{{pkg}} imports {{dep}}, which its package.json does not declare in "dependencies"; add it there{{hint}}',
      devOnly:
        '{{pkg}} imports {{dep}} from non-test code, but its package.json declares it only in "devDependencies"; move it to "dependencies"',
      undeclaredInTest: '{{pkg}} imports {{dep}} in a test, which its package.json does not declare; add it to "devDependencies"',
      libImportsApp: '{{pkg}} is a lib and imports the app {{dep}}; libs may never depend on apps, not even in tests: move what it needs into a lib',
      appImportsApp: '{{pkg}} imports the app {{dep}} from non-test code; apps may not depend on each other: move what both need into a lib',
      intoPackage: "{{pkg}} imports '{{source}}', a relative path into {{dep}}; import it by the package name {{dep}} instead",
      intoRootDir: "{{pkg}} imports '{{source}}' from {{dir}}/, which libs and apps may never import; move what it needs into a lib",
      outsidePackage: "{{pkg}} imports '{{source}}', a relative path outside its package; move what it needs into a package and import it by name",
    },
  },
  create(context) {
    const workspace = workspaceFor(dirname(context.filename));
    if (workspace === undefined) return {};
    const [top, dir] = relative(workspace.root, context.filename).split(sep);
    const pkg = workspace.byDir.get(`${top}/${dir}`);
    if (pkg === undefined) return {};
    const pkgDir = resolve(workspace.root, pkg.dir);
    const inTest = isTestFile(relative(pkgDir, context.filename));

    const checkPackage = (node: ESTree.Node, dep: WorkspacePackage): void => {
      const messageId = packageViolation(pkg, dep, inTest);
      if (messageId === undefined) return;
      const hint = pkg.kind === 'lib' ? ' (libs may depend only on libs)' : '';
      context.report({ node, messageId, data: { pkg: pkg.name, dep: dep.name, hint } });
    };

    const checkRelative = (node: ESTree.Node, source: string): void => {
      const target = resolve(dirname(context.filename), source);
      const fromPkgDir = relative(pkgDir, target);
      if (fromPkgDir !== '..' && !fromPkgDir.startsWith(`..${sep}`)) return;
      const [targetTop = '', targetDir] = relative(workspace.root, target).split(sep);
      const targetPkg = workspace.byDir.get(`${targetTop}/${targetDir}`);
      if (targetPkg !== undefined) {
        context.report({ node, messageId: 'intoPackage', data: { pkg: pkg.name, source, dep: targetPkg.name } });
      } else if (rootDirsNeverImported.has(targetTop)) {
        context.report({ node, messageId: 'intoRootDir', data: { pkg: pkg.name, source, dir: targetTop } });
      } else {
        context.report({ node, messageId: 'outsidePackage', data: { pkg: pkg.name, source } });
      }
    };

    const check = (node: ESTree.Node | null | undefined): void => {
      if (node?.type !== 'Literal' || typeof node.value !== 'string') return;
      if (node.value.startsWith('.')) {
        checkRelative(node, node.value);
        return;
      }
      const dep = workspace.byName.get(packageNameOf(node.value));
      if (dep !== undefined && dep !== pkg) checkPackage(node, dep);
    };

    return {
      ImportDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      CallExpression: (node) => {
        if (isImportMetaResolve(node)) check(node.arguments[0]);
      },
    };
  },
};
