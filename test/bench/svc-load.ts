// svc-load.ts: the load generator of `npm run bench:svc` (svc.ts runs it inside a node's network
// namespace: nsenter --net=PATH node test/bench/svc-load.ts ...). Closed loop: --workers
// callers, each sending HTTP/1.0 GET / over a new TCP connection per request (connect, send,
// read until the server closes), to the --targets in turn (one shared round-robin counter);
// --warmup-seconds unmeasured, then --seconds measured. A request counts when it completes
// inside the window with status 200 and a non-empty body (the web image answers its pod's
// name). Prints one JSON line: requests, requests/s, latency p50/p99 ms, failures (all, warm-up
// included) with up to 3 reasons, answers per page, and this process's CPU share of one vCPU.
//
//   node test/bench/svc-load.ts --targets 10.96.0.10:80[,IP:PORT...] [--workers 16]
//                               [--seconds 5] [--warmup-seconds 1]
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { closedLoop, percentile } from './measure.ts';

/** REQUEST_TIMEOUT_MS bounds one request (a lost SYN is retransmitted only after 1 s). */
const REQUEST_TIMEOUT_MS = 5_000;
const REQUEST = 'GET / HTTP/1.0\r\nUser-Agent: tugboat-bench\r\n\r\n';

/** LoadResult is what the script prints, as JSON. */
export interface LoadResult {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
  readonly reasons: readonly string[];
  readonly answers: Readonly<Record<string, number>>;
  /** CPU this process used over the whole run, % of one vCPU. */
  readonly clientCpuPct: number;
}

interface Target {
  readonly host: string;
  readonly port: number;
}

/** get sends one request on a new connection; resolves with the page, or throws why not. */
function get(t: Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: t.host, port: t.port });
    s.setTimeout(REQUEST_TIMEOUT_MS);
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('timeout', () => s.destroy(new Error(`${t.host}:${t.port}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    s.on('error', (err) => reject(err));
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      const body = text.slice(text.indexOf('\r\n\r\n') + 4).trim();
      if (status !== '200' || body === '') reject(new Error(`${t.host}:${t.port}: answered ${JSON.stringify(text.slice(0, 40))}`));
      else resolve(body);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string' },
      workers: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '5' },
      'warmup-seconds': { type: 'string', default: '1' },
    },
  });
  const targets: Target[] = (values.targets ?? '').split(',').filter((s) => s !== '').map((s) => {
    const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(s);
    if (m === null) throw new Error(`--targets: ${JSON.stringify(s)} is not IP:PORT`);
    return { host: m[1]!, port: Number(m[2]) };
  });
  if (targets.length === 0) throw new Error('--targets: at least one IP:PORT');
  const workers = Number(values.workers);
  const seconds = Number(values.seconds);
  const warmupSeconds = Number(values['warmup-seconds']);
  if (!(Number.isSafeInteger(workers) && workers > 0) || !(seconds > 0) || !(warmupSeconds >= 0)) throw new Error('--workers, --seconds, --warmup-seconds: positive numbers');

  let next = 0;
  let failures = 0;
  const reasons: string[] = [];
  const answers: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const run = await closedLoop(
    async () => {
      try {
        return await get(targets[next++ % targets.length]!);
      } catch (err) {
        failures++;
        if (reasons.length < 3) reasons.push((err as Error).message);
        return false;
      }
    },
    [],
    workers,
    warmupSeconds * 1000,
    seconds * 1000,
    (page) => {
      if (page !== false) answers[page] = (answers[page] ?? 0) + 1;
    },
  );
  const cpu = process.cpuUsage(cpu0);
  const result: LoadResult = {
    requests: run.lat.length,
    perSecond: run.lat.length / seconds,
    p50Ms: percentile(run.lat, 50),
    p99Ms: percentile(run.lat, 99),
    failures,
    reasons,
    answers,
    clientCpuPct: (100 * (cpu.user + cpu.system)) / 1000 / (performance.now() - t0),
  };
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(`svc-load: ${(err as Error).message}`);
  process.exit(1);
});
