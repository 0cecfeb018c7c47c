/** Worker thread body for {@link runSeeds}: runs each seed it is sent and posts the outcome back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runSeed, type SeedJob } from './parallel.ts';

const job = workerData as SeedJob;
parentPort!.on('message', (seed: number) => {
  parentPort!.postMessage(runSeed(seed, job));
});
