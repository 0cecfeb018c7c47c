import { Worker } from 'node:worker_threads';
import type { FaultProfile } from './profile.ts';
import { runSimulation, type SimResult } from './simulation.ts';

/** SeedJob is what every seed of a batch shares. */
export interface SeedJob {
  readonly nodes: number;
  readonly steps: number;
  /** Overrides parts of every seed's drawn profile (to replay a finding under other settings). */
  readonly profile?: Partial<FaultProfile>;
}

/** SeedOutcome is a SimResult without the profile (what crosses a worker boundary). */
export interface SeedOutcome {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: SimResult['violation'];
  readonly traceHash: string;
  readonly stats: SimResult['stats'];
}

/** runSeed runs one seed of a job. */
export function runSeed(seed: number, job: SeedJob, onTrace?: (line: string) => void): SeedOutcome {
  const r = runSimulation({
    seed,
    nodes: job.nodes,
    steps: job.steps,
    ...(job.profile === undefined ? {} : { profile: job.profile }),
    ...(onTrace === undefined ? {} : { onTrace }),
  });
  return { seed, ok: r.ok, violation: r.violation, traceHash: r.traceHash, stats: r.stats };
}

/**
 * runSeeds runs `seeds` on `jobs` worker threads (in this thread when jobs is 1), handing each
 * worker its next seed as soon as it is done, and answers the outcomes sorted by seed.
 * Each run is a pure function of (seed, job), so where it runs does not change its outcome.
 */
export async function runSeeds(
  seeds: readonly number[],
  job: SeedJob,
  jobs: number,
  onOutcome?: (o: SeedOutcome) => void,
): Promise<SeedOutcome[]> {
  const outcomes: SeedOutcome[] = [];
  const workers = Math.max(1, Math.min(jobs, seeds.length));
  if (workers === 1) {
    for (const s of seeds) {
      const o = runSeed(s, job);
      outcomes.push(o);
      onOutcome?.(o);
    }
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, () => {
        const worker = new Worker(new URL('./sim-worker.ts', import.meta.url), { workerData: job });
        return new Promise<void>((resolve, reject) => {
          const feed = (): void => {
            if (next < seeds.length) worker.postMessage(seeds[next++]);
            else void worker.terminate().then(() => resolve(), reject);
          };
          worker.on('message', (o: SeedOutcome) => {
            outcomes.push(o);
            onOutcome?.(o);
            feed();
          });
          worker.on('error', reject);
          feed();
        });
      }),
    );
  }
  return outcomes.sort((a, b) => a.seed - b.seed);
}
