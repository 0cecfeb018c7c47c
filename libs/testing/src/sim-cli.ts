/**
 * sim-cli runs seeded simulations: seeds S .. S+N-1, spread over worker threads.
 *
 *   npm run sim -- --seed S --count N [--nodes 3|5] [--steps K] [--jobs J] [--verbose] [--profile JSON]
 *
 * For every failing seed it prints the violated property, the step, the trace tail and the
 * command that replays exactly that run; then one summary line. Exit status 1 on any
 * violation, 2 on bad arguments. `--verbose` prints one line per seed, and with `--count 1`
 * the whole trace as it happens. `--profile '{"preVote":false}'` overrides parts of every
 * seed's drawn fault profile (see FaultProfile), to replay a finding under other settings.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { runSeed, runSeeds, type SeedJob as Job, type SeedOutcome } from './parallel.ts';
import { drawProfile, type FaultProfile } from './profile.ts';
import { DEFAULT_STEPS } from './simulation.ts';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run sim -- --seed S --count N [--nodes 3|5] [--steps K] [--jobs J] [--verbose] [--profile JSON]\n`,
  );
  process.exit(2);
}

function intArg(v: string | undefined, name: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function replayCommand(seed: number, job: Job): string {
  const profile = job.profile === undefined ? '' : ` --profile '${JSON.stringify(job.profile)}'`;
  return `npm run sim -- --seed ${seed} --count 1 --nodes ${job.nodes} --steps ${job.steps}${profile}`;
}

function report(o: SeedOutcome, job: Job): string {
  const v = o.violation!;
  return [
    `FAIL seed=${o.seed} nodes=${job.nodes} property=${v.property} step=${v.step}`,
    `  ${v.message.split('\n').join('\n  ')}`,
    `  trace (last ${v.traceTail.length} lines):`,
    ...v.traceTail.map((l) => `    ${l}`),
    `  replay: ${replayCommand(o.seed, job)}`,
    '',
  ].join('\n');
}

function summaryLine(o: SeedOutcome): string {
  const s = o.stats;
  return (
    `seed=${o.seed} ${o.ok ? 'ok' : `FAIL ${o.violation!.property}`} hash=${o.traceHash.slice(0, 16)} leaders=${s.leadersElected} ` +
    `term=${s.maxTerm} applied=${s.appliedMax} crashes=${s.crashes} partitions=${s.partitions} conf=${s.confChangesCommitted} ` +
    `snapshots=${s.snapshotsInstalled} reads=${s.readsReleased} liveness=${s.livenessSteps}`
  );
}

/** coverageLine sums what the runs exercised, so a quiet summary still shows the faults happened. */
function coverageLine(outcomes: readonly SeedOutcome[]): string {
  const sum = (k: keyof SeedOutcome['stats']): number => outcomes.reduce((n, o) => n + Math.max(0, o.stats[k]), 0);
  const livenessMax = outcomes.reduce((n, o) => Math.max(n, o.stats.livenessSteps), 0);
  return (
    `coverage: leaders=${sum('leadersElected')} crashes=${sum('crashes')} partitions=${sum('partitions')} ` +
    `commands=${sum('commandsCommitted')} snapshots=${sum('snapshotsInstalled')} compactions=${sum('compactions')} ` +
    `conf=${sum('confChangesCommitted')} transfers=${sum('transfersStarted')} reads=${sum('readsReleased')} ` +
    `messages=${sum('messagesSent')} lost=${sum('messagesLost')} liveness<=${livenessMax} steps`
  );
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' },
        count: { type: 'string' },
        nodes: { type: 'string' },
        steps: { type: 'string' },
        jobs: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        profile: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.seed === undefined) usage('--seed is required');
  const seed = intArg(values.seed, 'seed', 0, 0);
  const count = intArg(values.count, 'count', 1, 1);
  const nodes = intArg(values.nodes, 'nodes', 3, 3);
  if (nodes !== 3 && nodes !== 5) usage(`--nodes must be 3 or 5, got ${nodes}`);
  const steps = intArg(values.steps, 'steps', DEFAULT_STEPS, 0);
  const jobs = Math.min(count, intArg(values.jobs, 'jobs', availableParallelism(), 1));
  const verbose = values.verbose === true;
  if (!Number.isSafeInteger(seed + count)) usage('--seed + --count is too large');
  let profile: Partial<FaultProfile> | undefined;
  if (values.profile !== undefined) {
    try {
      profile = JSON.parse(values.profile) as Partial<FaultProfile>;
    } catch (e) {
      usage(`--profile must be JSON: ${(e as Error).message}`);
    }
    if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) usage('--profile must be a JSON object');
    const known = new Set(Object.keys(drawProfile(0, nodes)));
    for (const k of Object.keys(profile)) if (!known.has(k)) usage(`--profile: unknown field ${JSON.stringify(k)}`);
  }
  const job: Job = { nodes, steps, ...(profile === undefined ? {} : { profile }) };
  const started = performance.now();
  let outcomes: SeedOutcome[];
  if (verbose && count === 1) {
    outcomes = [runSeed(seed, job, (line) => void process.stdout.write(`${line}\n`))];
    process.stdout.write(`${summaryLine(outcomes[0]!)}\n`);
  } else {
    const seeds = Array.from({ length: count }, (_, i) => seed + i);
    outcomes = await runSeeds(seeds, job, jobs, verbose ? (o) => void process.stdout.write(`${summaryLine(o)}\n`) : undefined);
  }
  const failed = outcomes.filter((o) => !o.ok);
  for (const o of failed) process.stdout.write(report(o, job));
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `sim: ${outcomes.length} seeds ${seed}..${seed + count - 1} (nodes=${nodes} steps=${steps} jobs=${jobs}): ` +
      `${failed.length} violation${failed.length === 1 ? '' : 's'}${failed.length > 0 ? ` (seeds ${failed.map((o) => o.seed).join(',')})` : ''}, ` +
      `${seconds.toFixed(1)} s, ${(outcomes.length / seconds).toFixed(1)} seeds/s\n`,
  );
  process.stdout.write(`${coverageLine(outcomes)}\n`);
  return failed.length > 0 ? 1 : 0;
}

// A closed pipe (`npm run sim ... | head`) ends the run quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});
process.exitCode = await main();
