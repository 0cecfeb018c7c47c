// demo.ts (npm run demo, ./run demo): the local-cluster quick start, run for you and checked.
//
// `tug cluster up --name demo` (three nodes, each a network namespace with its own containerd,
// tug-agent and tug-control); `tug apply -f examples/web-deployment.yaml` (a Deployment of three
// web pods, spread by the scheduler, behind a NodePort Service) and `tug rollout status`;
// `tug get svc,ep`; `tug exec` in a pod fetching the app by the service's DNS name, every replica
// answering in turn; the nodePort answering from the host on every node's address; `tug set
// image` to tugboat.local/web:v2 while a client polls through the Service's ClusterIP (no
// request may fail), `tug rollout undo`; `tug chaos kill-node` of a node with one of the pods
// while a client keeps asking the service (every request must be answered; one that reached the
// dead node's pod before the cluster noticed is tried again at once, as an HTTP client with
// retries would), its pods replaced on the other nodes within the 10 s goal, `tug chaos
// start-node`; `tug cluster down`, after which nothing of the cluster is left. Every command is
// printed as a user would type it, with its output. Prints PASS, or FAIL and exits 1; the
// cluster is torn down at the end, also on failure or Ctrl-C.
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import type { Pod } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { adminSecurity, downCluster, existingPlan, isServing, leftovers, pollUrl } from '@tugboat/localcluster';
import { runCaptured } from './captured.ts';
import { bold, check, dim, indent } from './demo-output.ts';

const NAME = 'demo';
const NODE_PORT = 30080;
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const example = join(repo, 'examples', 'web-deployment.yaml');
const V2 = 'tugboat.local/web:v2';

interface Result {
  code: number;
  out: string;
}

/** tug runs one tug command in this process, printing it and its output. */
async function tug(...args: string[]): Promise<Result> {
  console.log(`  $ tug ${args.map((a) => (a === example ? relative(repo, example) : /\s/.test(a) ? `'${a}'` : a)).join(' ')}`);
  let out = '';
  const { code } = await runCaptured(args, { env: process.env, homedir: homedir(), onOutput: (text) => (out += text) });
  if (out.trim() !== '') console.log(indent(out));
  return { code, out };
}

/** hostWget fetches a URL from this machine (outside every node), printing it as a user would type it. */
function hostWget(url: string): string {
  console.log(`  $ wget -qO- ${url}`);
  const r = spawnSync('busybox', ['wget', '-qO-', url], { encoding: 'utf8', timeout: 5_000 });
  const page = r.stdout.trim();
  console.log(indent(page === '' ? r.stderr || '(no answer)' : page));
  return page;
}

async function webPods(client: TugClient): Promise<Pod[]> {
  return (await client.pods.list({ namespace: 'default', labelSelector: 'app=web' })).items;
}

async function main(): Promise<boolean> {
  const t0 = performance.now();
  console.log(bold('tugboat quick start: a local 3-node cluster on this machine, driven with tug'));
  let client: TugClient | undefined;
  try {
    console.log(bold('\n1. Start the cluster: every node is a network namespace with its own containerd, tug-agent and tug-control'));
    const up = await tug('cluster', 'up', '--name', NAME);
    check(up.code === 0, 'tug cluster up failed');
    const plan = existingPlan(NAME);
    client = new TugClient({ endpoints: plan.apiEndpoints, security: adminSecurity(plan.baseDir) });
    const nodes = await tug('get', 'nodes', '-o', 'wide');
    check(nodes.code === 0 && (nodes.out.match(/\bReady\b/g) ?? []).length === 3, 'three Ready nodes');

    console.log(bold('\n2. Deploy three web pods behind a NodePort Service; the scheduler spreads them over the nodes'));
    const applied = await tug('apply', '-f', example);
    check(applied.code === 0 && applied.out.includes('deployment.apps/web created') && applied.out.includes('service/web created'), 'tug apply did not create the Deployment and the Service');
    const status = await tug('rollout', 'status', 'deploy/web', '--timeout', '90s');
    check(status.code === 0 && status.out.includes('successfully rolled out'), 'the rollout did not finish');
    await tug('get', 'pods', '-o', 'wide');
    const pods = (await webPods(client)).filter(isServing);
    const nodesUsed = new Set(pods.map((p) => p.spec.nodeName));
    check(pods.length === 3 && nodesUsed.size === 3, `three Ready pods on three nodes (got ${pods.length} on ${nodesUsed.size})`);
    // The Endpoints controller and every node's proxy follow within milliseconds; wait for them.
    for (let i = 0; ; i++) {
      const ep = await client.endpoints.get('default', 'web').catch(() => undefined);
      if ((ep?.subsets ?? []).flatMap((s) => s.addresses ?? []).length === 3) break;
      check(i < 100, 'the Endpoints of web did not list the three pods');
      await sleep(100);
    }
    const svc = await tug('get', 'svc,ep', '-o', 'wide');
    check(svc.code === 0 && svc.out.includes(`80:${NODE_PORT}/TCP`), 'tug get svc,ep does not show the NodePort Service');
    const vip = (await client.services.get('default', 'web')).spec.clusterIP ?? '';

    console.log(bold('\n3. Reach the app by its service name from a pod: every replica answers in turn'));
    const asker = pods.find((p) => p.spec.nodeName === 'node-1') ?? pods[0]!;
    const logs = await tug('logs', asker.metadata.name ?? '');
    check(logs.code === 0 && logs.out.includes(`serving ${asker.metadata.name} on port 8080`), 'tug logs does not show the server starting');
    const byName = await tug('exec', asker.metadata.name ?? '', '--', 'sh', '-c', 'for i in $(seq 30); do timeout 5 wget -qO- http://web/; done | sort | uniq -c');
    const answered = new Set([...byName.out.matchAll(/^\s*\d+\s+(\S+)$/gm)].map((m) => m[1]));
    check(byName.code === 0 && pods.every((p) => answered.has(p.metadata.name)), `30 requests to http://web/ from ${asker.metadata.name} did not reach all three pods`);

    console.log(bold(`\n4. The nodePort ${NODE_PORT} answers from this machine on every node's address`));
    for (const n of plan.nodes) {
      const page = hostWget(`http://${n.ip}:${NODE_PORT}/`);
      check(pods.some((p) => p.metadata.name === page), `the nodePort of ${n.name} (${n.ip}) did not answer with a web pod`);
    }

    console.log(bold(`\n5. Roll to a new image while a client asks the service at its ClusterIP (${vip}), then roll back`));
    const poller = pollUrl(`http://${vip}/`, { cluster: NAME, fromNode: 'node-1' });
    const set = await tug('set', 'image', 'deploy/web', `web=${V2}`);
    check(set.code === 0, 'tug set image failed');
    const rolled = await tug('rollout', 'status', 'deploy/web', '--timeout', '120s');
    // Old pods drain for 2 s after the stop signal: keep asking until they are gone.
    for (let i = 0; i < 100 && (await webPods(client)).length > 3; i++) await sleep(100);
    const polled = await poller.stop();
    check(rolled.code === 0, 'the rolling update did not finish');
    console.log(`  the client asking ${vip} during the update: ${polled.ok} requests answered, ${polled.failed.length} failed`);
    check(polled.failed.length === 0 && polled.ok > 0, `failed requests during the update: ${polled.failed.join('; ')}`);
    await tug('rollout', 'history', 'deploy/web');
    const undo = await tug('rollout', 'undo', 'deploy/web');
    check(undo.code === 0, 'tug rollout undo failed');
    const back = await tug('rollout', 'status', 'deploy/web', '--timeout', '120s');
    check(back.code === 0, 'the rollback did not finish');
    const images = new Set((await webPods(client)).filter(isServing).map((p) => p.spec.containers[0]?.image));
    check(images.size === 1 && images.has('tugboat.local/web:latest'), `after the undo every pod runs tugboat.local/web:latest (got ${[...images].join(', ')})`);
    await tug('get', 'pods', '-o', 'wide');

    console.log(bold('\n6. Kill a node (every process of it, containers included) while a client keeps asking the service'));
    const victim = (await webPods(client)).filter((p) => isServing(p) && p.spec.nodeName !== 'node-1')[0]?.spec.nodeName ?? 'node-3';
    const steady = pollUrl(`http://${vip}/`, { cluster: NAME, fromNode: 'node-1', attempts: 10 });
    await sleep(500);
    const killedAt = Date.now();
    const kill = await tug('chaos', 'kill-node', victim, '--name', NAME);
    check(kill.code === 0, 'tug chaos kill-node failed');
    let replacedMs = 0;
    for (;;) {
      const ready = (await webPods(client)).filter((p) => isServing(p) && p.spec.nodeName !== victim);
      if (ready.length === 3) {
        replacedMs = Date.now() - killedAt;
        break;
      }
      check(Date.now() - killedAt < 60_000, `the pods of ${victim} were not replaced within 60 s`);
      await sleep(100);
    }
    await sleep(500);
    const during = await steady.stop();
    console.log(`  three Ready pods on the other nodes ${(replacedMs / 1000).toFixed(1)} s after the kill (goal: under 10 s)`);
    console.log(
      `  the client asking ${vip} meanwhile: ${during.ok} requests answered, ${during.failed.length} unanswered; ` +
        `${during.retried} of them answered only after a retry (they had reached the killed node's pod before the cluster noticed it was gone)`,
    );
    await tug('get', 'pods', '-o', 'wide');
    await tug('get', 'endpoints', 'web');
    await tug('get', 'nodes');
    check(replacedMs < 10_000, `replaced in ${replacedMs} ms, over the 10 s goal`);
    check(during.failed.length === 0 && during.ok > 0, `unanswered requests during the node kill: ${during.failed.join('; ')}`);
    const start = await tug('chaos', 'start-node', victim, '--name', NAME);
    check(start.code === 0, 'tug chaos start-node failed');

    console.log(bold('\n7. Tear the cluster down'));
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
