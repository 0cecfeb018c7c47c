// programs.ts: the programs a local cluster's nodes run. `up` bundles tug-control and tug-agent
// from this checkout's sources into one JavaScript file each, in the cluster's dir (esbuild):
// a bundle starts in about half the time and holds ~35 MB less than the same code run from its
// TypeScript sources (no type stripper in memory, one module instead of hundreds), and every
// process of the cluster, also one started again later (restart, chaos start-node), runs the
// same code whatever happens to the checkout meanwhile. classic-level, a native addon, is not
// bundled: the bundle imports it from this checkout's node_modules by its absolute path.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import type { Programs } from './commands.ts';
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

/**
 * AGENT_NODE_FLAGS: tug-agent runs with a 1 MiB young generation (V8's semi-space; the default
 * grows to 16 MiB or more). Measured with 110 pods per node started at once (`bench:pods --pods
 * 330`): the agents ended at 113–120 MiB VmRSS instead of 123–170 MiB, for 5 % more agent CPU
 * (14.1 against 13.4 s) and the same start times. A node agent's memory is what every node
 * pays; its CPU is small beside the runtime's.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

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

/** bundlePrograms writes the bundles of tug-control and tug-agent into the cluster's dir. */
export async function bundlePrograms(baseDir: string): Promise<void> {
  const dir = programsDir(baseDir);
  mkdirSync(dir, { recursive: true });
  for (const role of ['control', 'agent'] as const) {
    try {
      await build({
        entryPoints: [PROGRAM_SOURCES[role]],
        outfile: join(dir, PROGRAM_FILES[role]),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        banner: { js: REQUIRE_BANNER },
        plugins: [fromCheckout()],
        logLevel: 'silent',
      });
    } catch (err) {
      throw new HostError(`cannot bundle ${PROGRAM_SOURCES[role]} into ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
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
