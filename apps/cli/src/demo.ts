// demo.ts (npm run demo, ./run demo): the local-cluster quick start, run for you and checked.
//
// `tug cluster up --name demo` (three nodes, each a network namespace with its own containerd,
// tug-agent and tug-control), `tug apply -f examples/web-pods.yaml` (one web pod per node),
// `tug get pods -o wide`, `tug logs`, `tug exec` with an HTTP fetch from a pod on node-1 to a pod
// on node-3 by pod IP, a SIGKILLed agent whose pod keeps serving and is adopted, untouched, by
// the restarted agent, `tug delete`, and `tug cluster down`, after which nothing of the cluster
// is left. Every `tug` command is printed as a user would type it, with its output. Prints PASS,
// or FAIL and exits 1; the cluster is torn down at the end, also on failure or Ctrl-C.
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import type { Pod } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { downCluster, existingPlan, killProcess, leftovers, startProcess } from '@tugboat/localcluster';
import { run } from './cli.ts';
import type { Io } from './cli.ts';

const NAME = 'demo';
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const example = join(repo, 'examples', 'web-pods.yaml');
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const indent = (s: string): string =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

class DemoFailure extends Error {
  override readonly name = 'DemoFailure';
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new DemoFailure(what);
}

interface Result {
  code: number;
  out: string;
}

/** tug runs one tug command in this process, printing it and its output. */
async function tug(...args: string[]): Promise<Result> {
  console.log(`  $ tug ${args.map((a) => (a === example ? relative(repo, example) : a)).join(' ')}`);
  let out = '';
  const text = (s: string | Uint8Array): string => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
  const io: Io = {
    stdout: { write: (s: string | Uint8Array) => (out += text(s)) },
    stderr: { write: (s: string | Uint8Array) => (out += text(s)) },
    readStdin: () => Promise.resolve(''),
    env: process.env,
    homedir: homedir(),
    now: () => Date.now(),
  };
  const code = await run(args, io);
  if (out.trim() !== '') console.log(indent(out));
  return { code, out };
}

async function waitFor(client: TugClient, what: string, check: (pods: Pod[]) => boolean, timeoutMs = 60_000): Promise<Pod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = (await client.pods.list({ namespace: 'default' })).items;
    if (check(pods)) return pods;
    if (Date.now() > deadline) throw new DemoFailure(`${what}: not reached in ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

const isRunning = (p: Pod | undefined): boolean => p?.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running !== undefined;

async function main(): Promise<boolean> {
  const t0 = performance.now();
  console.log(bold('tugboat quick start: a local 3-node cluster on this machine, driven with tug'));
  let client: TugClient | undefined;
  try {
    console.log(bold('\n1. Start the cluster: every node is a network namespace with its own containerd, tug-agent and tug-control'));
    const up = await tug('cluster', 'up', '--name', NAME);
    check(up.code === 0, 'tug cluster up failed');
    client = new TugClient({ endpoints: existingPlan(NAME).apiEndpoints });
    const nodes = await tug('get', 'nodes', '-o', 'wide');
    check(nodes.code === 0 && (nodes.out.match(/\bReady\b/g) ?? []).length === 3, 'three Ready nodes');

    console.log(bold('\n2. Run a web pod on each node (spec.nodeName places it until the scheduler exists)'));
    const applied = await tug('apply', '-f', example);
    check(applied.code === 0 && (applied.out.match(/created/g) ?? []).length === 3, 'tug apply did not create the three pods');
    const started = performance.now();
    const pods = await waitFor(client, 'three pods Running', (ps) => ps.length === 3 && ps.every(isRunning));
    console.log(dim(`  (all three Running ${Math.round(performance.now() - started)} ms after the apply)`));
    await tug('get', 'pods', '-o', 'wide');
    const ip = (name: string): string => pods.find((p) => p.metadata.name === name)?.status?.podIP ?? '';

    console.log(bold('\n3. Logs, and exec: a pod on node-1 fetches from the pod on node-3 by its pod IP'));
    const logs = await tug('logs', 'web-1');
    check(logs.code === 0 && logs.out.includes('serving web-1 on port 8080'), 'tug logs web-1 does not show the server starting');
    const fetched = await tug('exec', 'web-1', '--', 'wget', '-qO-', `http://${ip('web-3')}:8080/`);
    check(fetched.code === 0 && fetched.out.trim() === 'web-3', 'web-1 did not get web-3 answering');

    console.log(bold("\n4. Kill node-2's agent: its pod keeps serving; the restarted agent adopts it untouched"));
    const before = pods.find((p) => p.metadata.name === 'web-2')?.status?.containerStatuses?.[0]?.containerID ?? '';
    const killed = await killProcess(NAME, 'node-2', 'agent');
    console.log(`  tug-agent on node-2 (pid ${killed.pid}) killed with SIGKILL`);
    const whileDown = await tug('exec', 'web-1', '--', 'wget', '-qO-', `http://${ip('web-2')}:8080/`);
    check(whileDown.code === 0 && whileDown.out.trim() === 'web-2', 'web-2 stopped answering without its agent');
    const restarted = startProcess(NAME, 'node-2', 'agent');
    console.log(`  tug-agent on node-2 started again (pid ${restarted.pid})`);
    const beat = Date.now();
    for (;;) {
      const n = await client.nodes.get('node-2');
      if (Date.parse(n.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime ?? '') > beat) break;
      check(Date.now() - beat < 30_000, 'the restarted agent did not heartbeat within 30 s');
      await sleep(200);
    }
    await sleep(1_500);
    const web2 = await client.pods.get('default', 'web-2');
    const after = web2.status?.containerStatuses?.[0];
    check(after?.containerID === before && after.restartCount === 0 && isRunning(web2), 'web-2 was restarted by the new agent');
    await tug('get', 'pod', 'web-2', '-o', 'wide');
    console.log(`  same container (${before.slice(0, 25)}...), restart count 0`);

    console.log(bold('\n5. Delete a pod: its containers and its IP are released'));
    await tug('delete', 'pod', 'web-3');
    await waitFor(client, 'web-3 gone', (ps) => ps.every((p) => p.metadata.name !== 'web-3'));
    await tug('get', 'pods', '-o', 'wide');

    console.log(bold('\n6. Tear the cluster down'));
    client.close();
    client = undefined;
    const down = await tug('cluster', 'down', '--name', NAME);
    const left = leftovers(NAME);
    check(down.code === 0 && left.length === 0, `tug cluster down left: ${left.join('; ')}`);
    console.log('  nothing left: no network namespace, process, mount, bridge, route, iptables rule or file of the cluster');
    console.log(`\n${bold('PASS')} (${Math.round((performance.now() - t0) / 100) / 10} s in all)`);
    return true;
  } catch (err) {
    console.log(`\n${bold('FAIL')}: ${(err as Error).message}`);
    console.log(dim(`  logs: /var/lib/tugboat/clusters/${NAME}/node-*/logs/`));
    return false;
  } finally {
    client?.close();
    if (leftovers(NAME).length > 0) {
      const r = await downCluster(NAME);
      console.log(dim(`  cleaned up: ${r.removed.length} things removed${r.left.length > 0 ? `; left: ${r.left.join('; ')}` : ''}`));
    }
  }
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(1);
    interrupted = true;
    console.log(`\n${sig}: tearing the cluster down`);
    void downCluster(NAME).finally(() => process.exit(1));
  });
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(`FAIL: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
