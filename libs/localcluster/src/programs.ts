// programs.ts: the programs a local cluster's nodes run. `up` bundles tug-control and tug-agent
// from this checkout's sources into one JavaScript file each, in the cluster's dir (esbuild):
// a bundle starts in about half the time and holds ~35 MB less than the same code run from its
// TypeScript sources (no type stripper in memory, one module instead of hundreds), and every
// process of the cluster, also one started again later (restart, chaos start-node), runs the
// same code whatever happens to the checkout meanwhile. classic-level, a native addon, is not
// bundled: the bundle imports it from this checkout's node_modules by its absolute path.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { AGENT_NODE_FLAGS } from '@tugboat/nodeconfig';
import type { Programs } from './commands.ts';
import { writeIfChanged } from './files.ts';
import { HostError } from './host.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The sources bundled, by role. */
export const PROGRAM_SOURCES = {
  control: join(repoRoot, 'apps/control/src/main.ts'),
  agent: join(repoRoot, 'apps/agent/src/main.ts'),
} as const;

/** The bundles' file names, by role: how `down` and the benchmarks tell the processes apart. */
export const PROGRAM_FILES = { control: 'tug-control.mjs', agent: 'tug-agent.mjs' } as const;

/** programsDir is where a cluster keeps its bundles. */
export const programsDir = (baseDir: string): string => join(baseDir, 'bin');

/** NATIVE_PACKAGES are loaded from node_modules rather than bundled. */
const NATIVE_PACKAGES = ['classic-level'];

/** The bundles are ES modules; the CommonJS packages inside them require Node's built-ins. */
const REQUIRE_BANNER = "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);";

/** fromCheckout marks the native packages external, imported by their absolute path in this
 *  checkout (the bundle lives elsewhere, where no node_modules would be found). */
function fromCheckout(): Plugin {
  const resolve = createRequire(join(repoRoot, 'package.json')).resolve;
  const filter = new RegExp(`^(${NATIVE_PACKAGES.join('|')})$`);
  return {
    name: 'native-from-checkout',
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: resolve(args.path), external: true }));
    },
  };
}

/** bundlePrograms writes the bundles of tug-control and tug-agent into baseDir/bin, each only
 *  when its bytes differ from the file there (esbuild's output is the same for the same
 *  sources). Returns the paths it wrote. */
export async function bundlePrograms(baseDir: string): Promise<string[]> {
  const dir = programsDir(baseDir);
  const written: string[] = [];
  for (const role of ['control', 'agent'] as const) {
    const outfile = join(dir, PROGRAM_FILES[role]);
    let code: Uint8Array;
    try {
      const result = await build({
        entryPoints: [PROGRAM_SOURCES[role]],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        banner: { js: REQUIRE_BANNER },
        plugins: [fromCheckout()],
        logLevel: 'silent',
        write: false,
      });
      code = result.outputFiles[0]!.contents;
    } catch (err) {
      throw new HostError(`cannot bundle ${PROGRAM_SOURCES[role]} into ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (writeIfChanged(outfile, code)) written.push(outfile);
  }
  return written;
}

/** nodePrograms are the programs of a cluster whose bundles exist (HostError naming a missing one). */
export function nodePrograms(baseDir: string, containerd: string): Programs {
  const controlMain = join(programsDir(baseDir), PROGRAM_FILES.control);
  const agentMain = join(programsDir(baseDir), PROGRAM_FILES.agent);
  for (const file of [controlMain, agentMain]) {
    if (!existsSync(file)) throw new HostError(`${file} is missing: the cluster was made by an older tug; run \`tug cluster down\` and \`up\` again`);
  }
  return { node: process.execPath, containerd, controlMain, agentMain, agentNodeFlags: AGENT_NODE_FLAGS };
}
