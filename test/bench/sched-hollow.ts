// sched-hollow.ts: the hollow nodes of `npm run bench:sched`, in a process of their own so that
// their CPU is counted apart from the benchmark's client. Started by sched.ts, not by hand:
//
//   node test/bench/sched-hollow.ts --endpoints A,B,C --nodes 1000 --heartbeat-seconds 2 \
//     [--ca-file F --cert-file F --key-file F]
//
// Prints one JSON line {"ready": ms} once every Node is registered; when stdin ends (sched.ts
// closes it, or exits) or on SIGTERM it stops the nodes, prints {"stats": HollowStats} and exits.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { TugClient } from '@tugboat/client';
import { loadTls } from '@tugboat/pki';
import { INSECURE_PLAINTEXT } from '@tugboat/proto';
import { HollowNodes } from '../support/hollow-nodes.ts';

const { values } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    nodes: { type: 'string', default: '1000' },
    'heartbeat-seconds': { type: 'string', default: '2' },
    'ca-file': { type: 'string' },
    'cert-file': { type: 'string' },
    'key-file': { type: 'string' },
  },
});

const security =
  values['ca-file'] === undefined
    ? INSECURE_PLAINTEXT
    : { tls: loadTls({ caFile: values['ca-file'], certFile: values['cert-file'] ?? '', keyFile: values['key-file'] ?? '' }) };
const client = new TugClient({ endpoints: (values.endpoints ?? '').split(','), security, attemptTimeoutMs: 10_000, retryBudgetMs: 30_000 });
const log = pino({ level: 'warn' }, pino.destination(2));
const hollow = new HollowNodes({ client, count: Number(values.nodes), heartbeatSeconds: Number(values['heartbeat-seconds']), log });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= hollow.stop().then(() => {
    process.stdout.write(`${JSON.stringify({ stats: hollow.stats })}\n`);
    client.close();
  });
  return stopping;
}

process.stdin.on('end', () => void stop().then(() => process.exit(0)));
process.stdin.resume();
process.on('SIGTERM', () => void stop().then(() => process.exit(0)));

const t0 = performance.now();
hollow.start().then(
  () => process.stdout.write(`${JSON.stringify({ ready: Math.round(performance.now() - t0) })}\n`),
  (err: unknown) => {
    console.error(`hollow nodes failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
