// scale.ts (npm run bench:scale): how the control plane's cost grows with the cluster, so a
// regression in the growth rate shows, not only in one point.
//
//   node test/bench/scale.ts [--sizes 100:1000,1000:10000,5000:50000] [--heartbeat-seconds 10]
//                            [--writes 2000]
//
// For each NODES:PODS size it runs the end-to-end phase of bench:sched (test/bench/sched.ts
// --phases end-to-end --summary-json) on a fresh cluster: three tug-control members, NODES
// hollow nodes renewing their Leases every --heartbeat-seconds (10 s, the kubelet's default;
// the members' --node-monitor-grace is four of them, 40 s, Kubernetes' default),
// --writes raw ConfigMap creates as the peer figure, then PODS bare pods created at 64 in flight
// and scheduled by the leader. One sched.ts run per size, one after another; its output is shown
// as it runs. At the end, one table: store writes/s beside pods bound/s, first create -> all
// Running, each member's VmRSS and V8 heap in use at 0 pods (Nodes registered) and at the end,
// and the leader's CPU per pod. The ratios between rows are the growth rates.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { f0, f1, f2, table } from './measure.ts';
import type { ScaleSummary } from './sched.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100:1000,1000:10000,5000:50000' },
    'heartbeat-seconds': { type: 'string', default: '10' },
    writes: { type: 'string', default: '2000' },
  },
});

const sizes = (values.sizes ?? '').split(',').map((part) => {
  const m = /^\s*(\d+):(\d+)\s*$/.exec(part);
  if (m === null || Number(m[1]) < 1 || Number(m[2]) < 1) {
    console.error(`bench: --sizes: ${JSON.stringify(part)} is not NODES:PODS (two positive whole numbers)`);
    process.exit(2);
  }
  return { nodes: Number(m[1]), pods: Number(m[2]) };
});
const heartbeatSeconds = Number(values['heartbeat-seconds']);
if (!(Number.isFinite(heartbeatSeconds) && heartbeatSeconds > 0)) {
  console.error('bench: --heartbeat-seconds must be a positive number');
  process.exit(2);
}
const schedMain = fileURLToPath(new URL('./sched.ts', import.meta.url));

/** runSize runs one end-to-end sched.ts and returns its summary (undefined when it printed none). */
function runSize(nodes: number, pods: number): Promise<ScaleSummary | undefined> {
  const args = [
    schedMain,
    '--phases',
    'end-to-end',
    '--summary-json',
    '--nodes',
    String(nodes),
    '--pods',
    String(pods),
    '--writes',
    values.writes ?? '2000',
    '--heartbeat-seconds',
    String(heartbeatSeconds),
    '--node-monitor-grace',
    String(Math.ceil(4 * heartbeatSeconds)),
    '--timeout-seconds',
    '1200',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let summary: ScaleSummary | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('SUMMARY ')) summary = JSON.parse(line.slice('SUMMARY '.length)) as ScaleSummary;
    else console.log(`  ${line}`);
  });
  return new Promise((resolve) => child.once('close', () => resolve(summary)));
}

async function main(): Promise<void> {
  console.log(`tugboat scale benchmark: ${sizes.map((s) => `${f0(s.nodes)} nodes / ${f0(s.pods)} pods`).join(', ')}; Leases renewed every ${values['heartbeat-seconds']} s`);
  const rows: string[][] = [
    [
      'nodes',
      'pods',
      'store writes/s',
      'pods bound/s',
      'all Running s',
      'leader RSS MiB: 0 pods -> end',
      'followers RSS MiB at the end',
      'leader heap in use MiB: 0 pods -> end',
      'followers heap in use MiB at the end',
      'leader at the end: heap taken, external MiB',
      'leader CPU ms per pod',
      'pods deleted',
    ],
  ];
  let failed = false;
  for (const { nodes, pods } of sizes) {
    console.log(`\n== ${f0(nodes)} nodes, ${f0(pods)} pods`);
    const s = await runSize(nodes, pods);
    if (s === undefined) {
      failed = true;
      rows.push([f0(nodes), f0(pods), 'failed', ...Array<string>(9).fill('-')]);
      continue;
    }
    if (s.running < pods || s.deleted > 0) failed = true;
    const followers = (perMember: readonly number[]): string => perMember.filter((_, i) => i !== s.leader).map(f0).join(', ');
    rows.push([
      f0(nodes),
      f0(pods),
      f0(s.storeWritesPerSecond),
      f0(s.podsBoundPerSecond),
      f1(s.allRunningSeconds ?? NaN),
      `${f0(s.rssNodesMiB[s.leader]!)} -> ${f0(s.rssEndMiB[s.leader]!)}`,
      followers(s.rssEndMiB),
      `${f0(s.heapNodesMiB[s.leader]!)} -> ${f0(s.heapEndMiB[s.leader]!)}`,
      followers(s.heapEndMiB),
      `${f0(s.heapTotalEndMiB[s.leader]!)}, ${f0(s.externalEndMiB[s.leader]!)}`,
      f2((1000 * s.leaderCpuSeconds) / pods),
      f0(s.deleted),
    ]);
  }
  console.log('\nResults (each row its own cluster and run)');
  console.log(table(rows));
  if (failed) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
