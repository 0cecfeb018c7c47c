// chromium.ts: headless Chromium for tests that look at a page as a browser draws it.
// ensureChromium finds the browser on PATH and, when it is missing, installs Debian's chromium
// package with apt-get (as root; apt-get update first if the install fails on stale package
// lists). runHeadless opens a page with its scripts run, in a profile directory of the
// caller's, and returns what Chromium printed (the DOM, with --dump-dom).
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** CHROMIUM_PROGRAMS are the names the browser goes by on PATH, in the order looked for. */
const CHROMIUM_PROGRAMS = ['chromium', 'chromium-browser'];

/** APT_TIMEOUT_MS bounds each apt-get run (the package and its libraries are about 100 MB). */
const APT_TIMEOUT_MS = 600_000;
/** CHROMIUM_TIMEOUT_MS bounds one headless run of Chromium. */
const CHROMIUM_TIMEOUT_MS = 60_000;

function findChromium(): string | undefined {
  for (const program of CHROMIUM_PROGRAMS) {
    const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim();
  }
  return undefined;
}

/** run runs program and returns its standard output; an error names the command and ends with what it printed last on stderr. */
async function run(program: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await execFileAsync(program, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stderr = '', message } = err as Error & { stderr?: string };
    const lastLines = stderr.trim().split('\n').slice(-5).join('\n');
    throw new Error(`${program} ${args.join(' ')} failed: ${lastLines || message}`, { cause: err });
  }
}

async function aptGet(args: readonly string[]): Promise<void> {
  await run('apt-get', args, APT_TIMEOUT_MS, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
}

/**
 * ensureChromium returns the path of Chromium, installing Debian's chromium package
 * (`apt-get install -y --no-install-recommends chromium`) when none is on PATH. Installing
 * needs root; otherwise it throws, saying what to install.
 */
export async function ensureChromium(): Promise<string> {
  const found = findChromium();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) {
    throw new Error('chromium is not on PATH; install it (apt-get install -y --no-install-recommends chromium) or run the test as root');
  }
  const install = ['install', '-y', '--no-install-recommends', 'chromium'];
  try {
    await aptGet(install);
  } catch {
    await aptGet(['update']);
    await aptGet(install);
  }
  const installed = findChromium();
  if (installed === undefined) throw new Error(`apt-get installed chromium, but none of ${CHROMIUM_PROGRAMS.join(', ')} is on PATH`);
  return installed;
}

/** HeadlessOptions say where and how long Chromium runs a page. */
export interface HeadlessOptions {
  /** A directory of the caller's for Chromium's profile (--user-data-dir). */
  readonly profileDir: string;
  /** Virtual time the page's scripts get before Chromium acts (--virtual-time-budget, ms). Default 5000. */
  readonly scriptTimeMs?: number;
}

/**
 * runHeadless opens url in headless Chromium with args added (e.g. --dump-dom, or
 * --screenshot=FILE with --window-size=W,H) and returns its standard output. Chromium runs
 * without its sandbox, since tests run as root.
 */
export async function runHeadless(chromium: string, url: string, args: readonly string[], options: HeadlessOptions): Promise<string> {
  const argv = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    `--user-data-dir=${options.profileDir}`,
    `--virtual-time-budget=${options.scriptTimeMs ?? 5000}`,
    ...args,
    url,
  ];
  return run(chromium, argv, CHROMIUM_TIMEOUT_MS);
}
