// import-boundaries.test.ts: tugboat/import-boundaries against the workspace in
// testdata/workspace, where
//   libs/api, libs/testing       declare nothing
//   libs/store                   dependencies: api; devDependencies: testing, control (an app)
//   apps/cli                     dependencies: api
//   apps/control                 dependencies: store; devDependencies: cli, testing
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { importBoundaries } from './import-boundaries.ts';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const workspace = join(import.meta.dirname, 'testdata', 'workspace');
const at = (path: string): string => join(workspace, path);

const ruleTester = new RuleTester({ languageOptions: { parser: tseslint.parser } });

ruleTester.run('import-boundaries', importBoundaries, {
  valid: [
    // Declared dependencies, subpaths of them, the package's own name and third-party packages.
    { filename: at('libs/store/src/store.ts'), code: "import { x } from '@tugboat/api';" },
    { filename: at('libs/store/src/store.ts'), code: "import type { X } from '@tugboat/api/types';" },
    { filename: at('libs/store/src/store.ts'), code: "export * from '@tugboat/api';" },
    { filename: at('libs/store/src/store.ts'), code: "export { x } from '@tugboat/api'; export { y };" },
    { filename: at('libs/store/src/store.ts'), code: "const m = await import('@tugboat/api');" },
    { filename: at('libs/store/src/store.ts'), code: "const u = import.meta.resolve('@tugboat/api');" },
    { filename: at('libs/store/src/store.test.ts'), code: "import { x } from '@tugboat/store';" },
    { filename: at('libs/store/src/store.ts'), code: "import { parse } from 'yaml'; import { join } from 'node:path';" },
    // devDependencies are for tests: *.test.ts and anything under testdata/.
    { filename: at('libs/store/src/store.test.ts'), code: "import { x } from '@tugboat/testing';" },
    { filename: at('libs/store/testdata/make.ts'), code: "import { x } from '@tugboat/testing';" },
    { filename: at('libs/store/src/testdata/make.ts'), code: "import { x } from '@tugboat/testing';" },
    // An app's tests may use another app that they declare in devDependencies.
    { filename: at('apps/control/src/main.test.ts'), code: "import { run } from '@tugboat/cli';" },
    // Relative imports inside the package, up to its root.
    { filename: at('libs/store/src/store.ts'), code: "import { x } from './codec.ts'; import y from '../testdata/y.json' with { type: 'json' };" },
    // Outside libs/ and apps/ anything goes.
    { filename: at('test/e2e/cluster.test.ts'), code: "import { x } from '@tugboat/control'; import { y } from '../../libs/store/src/store.ts';" },
    { filename: at('scripts/demo.ts'), code: "import { x } from '@tugboat/cli'; import { y } from '../test/support/cluster.ts';" },
    // Not a string literal: nothing to check.
    { filename: at('libs/store/src/store.ts'), code: 'const m = await import(name); const u = import.meta.resolve(name);' },
  ],
  invalid: [
    {
      filename: at('libs/store/src/store.ts'),
      code: "import { x } from '@tugboat/cli';",
      errors: [
        {
          message:
            '@tugboat/store is a lib and imports the app @tugboat/cli; libs may never depend on apps, not even in tests: move what it needs into a lib',
        },
      ],
    },
    {
      // Declaring the app does not help, not even in a test.
      filename: at('libs/store/src/store.test.ts'),
      code: "const u = import.meta.resolve('@tugboat/control');",
      errors: [{ messageId: 'libImportsApp' }],
    },
    {
      filename: at('libs/store/src/store.ts'),
      code: "import { x } from '@tugboat/testing';",
      errors: [
        {
          message:
            '@tugboat/store imports @tugboat/testing from non-test code, but its package.json declares it only in "devDependencies"; move it to "dependencies"',
        },
      ],
    },
    {
      filename: at('libs/testing/src/harness.ts'),
      code: "export { x } from '@tugboat/store';",
      errors: [
        {
          message:
            '@tugboat/testing imports @tugboat/store, which its package.json does not declare in "dependencies"; add it there (libs may depend only on libs)',
        },
      ],
    },
    {
      filename: at('apps/cli/src/main.ts'),
      code: "export * from '@tugboat/store/testing';",
      errors: [{ message: '@tugboat/cli imports @tugboat/store, which its package.json does not declare in "dependencies"; add it there' }],
    },
    {
      filename: at('apps/cli/testdata/fake.ts'),
      code: "const m = await import('@tugboat/store');",
      errors: [
        { message: '@tugboat/cli imports @tugboat/store in a test, which its package.json does not declare; add it to "devDependencies"' },
      ],
    },
    {
      filename: at('apps/control/src/main.ts'),
      code: "import { run } from '@tugboat/cli';",
      errors: [
        {
          message:
            '@tugboat/control imports the app @tugboat/cli from non-test code; apps may not depend on each other: move what both need into a lib',
        },
      ],
    },
    {
      filename: at('apps/cli/src/cli.test.ts'),
      code: "import type { X } from '@tugboat/control';",
      errors: [{ messageId: 'undeclaredInTest' }],
    },
    {
      filename: at('apps/cli/src/cli.ts'),
      code: "import { x } from '../../../libs/api/src/x.ts';",
      errors: [
        { message: "@tugboat/cli imports '../../../libs/api/src/x.ts', a relative path into @tugboat/api; import it by the package name @tugboat/api instead" },
      ],
    },
    {
      filename: at('libs/store/src/store.test.ts'),
      code: "import { x } from '../../../test/support/cluster.ts';",
      errors: [
        {
          message:
            "@tugboat/store imports '../../../test/support/cluster.ts' from test/, which libs and apps may never import; move what it needs into a lib",
        },
      ],
    },
    {
      filename: at('apps/control/src/demo.ts'),
      code: "const u = import.meta.resolve('../../../scripts/gen.ts');",
      errors: [{ messageId: 'intoRootDir' }],
    },
    {
      filename: at('libs/store/src/images.ts'),
      code: "export { build } from '../../../deploy/images/images.ts';",
      errors: [
        {
          message:
            "@tugboat/store imports '../../../deploy/images/images.ts', a relative path outside its package; move what it needs into a package and import it by name",
        },
      ],
    },
  ],
});
