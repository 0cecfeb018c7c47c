// demo-control.ts (npm run demo:control): the tug-control quick start, run for you and checked.
//
// Starts three tug-control members as separate processes on 127.0.0.1, applies
// examples/quickstart.yaml (a Namespace, a ConfigMap and a Secret) with `tug apply -f`, reads
// them back with `tug get`, shows `tug cluster status`, SIGKILLs the leader, shows the new leader,
// reads and writes (`tug apply` of a changed ConfigMap) through the two members left, restarts
// the killed member and shows that it caught up (the same object-set hash on every member).
// Every `tug` command is printed as a user would type it, with its output. Prints PASS, or FAIL
// and exits 1. Everything it starts (processes, temp dirs) is removed at the end, also on
// failure or Ctrl-C.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TugCluster } from '../test/support/tug-cluster.ts';
import type { CliResult } from '../test/support/tug-cluster.ts';
import { bold, check, dim, indent } from '@tugboat/cli/demo-output';

const repo = fileURLToPath(new URL('../', import.meta.url));
const example = join(repo, 'examples', 'quickstart.yaml');
const ms = (t0: number): string => `${Math.round(performance.now() - t0)} ms`;

async function main(): Promise<boolean> {
  const t0 = performance.now();
  console.log(bold('tugboat quick start: three tug-control members on 127.0.0.1, driven with tug'));
  const cluster = await TugCluster.start({ size: 3, hosts: ['127.0.0.1', '127.0.0.1', '127.0.0.1'], dirPrefix: 'tug-demo-' });
  const scratch = mkdtempSync(join(tmpdir(), 'tug-demo-files-'));
  try {
    const endpoints = cluster.endpoints().join(',');
    console.log(`  started in ${ms(t0)}; each member is one process:`);
    for (const m of cluster.members) console.log(dim(`    tug-control ${cluster.flags(m.name).join(' ')}   # pid ${m.pid}`));
    console.log(`  tug finds the members in $TUG_ENDPOINTS (or --endpoints, or ~/.tug/config):`);
    console.log(dim(`    export TUG_ENDPOINTS=${endpoints}`));

    const tug = async (args: string[], opts: { endpoints?: string[]; show?: string } = {}): Promise<CliResult> => {
      console.log(`  $ tug ${opts.show ?? args.join(' ')}`);
      const r = await cluster.cli(args, opts.endpoints === undefined ? {} : { endpoints: opts.endpoints });
      const out = `${r.stdout}${r.stderr}`;
      if (out.trim() !== '') console.log(indent(out));
      return r;
    };

    console.log(bold('\n1. Apply a manifest with a Namespace, a ConfigMap and a Secret'));
    const applied = await tug(['apply', '-f', example], { show: `apply -f ${relative(repo, example)}` });
    check(applied.code === 0 && (applied.stdout.match(/created/g) ?? []).length === 3, 'tug apply did not create the three objects');
    const cms = await tug(['get', 'configmaps', '-n', 'quickstart']);
    check(cms.code === 0 && cms.stdout.includes('web-config'), 'tug get configmaps does not show web-config');
    const secrets = await tug(['get', 'secrets', '-n', 'quickstart']);
    check(secrets.code === 0 && secrets.stdout.includes('web-credentials'), 'tug get secrets does not show web-credentials');
    await tug(['get', 'namespaces']);
    const status = await tug(['cluster', 'status']);
    check(status.code === 0, 'tug cluster status failed');

    const leader = await cluster.leader();
    const pid = cluster.member(leader.name).pid;
    console.log(bold(`\n2. SIGKILL the leader, ${leader.name} (pid ${pid})`));
    const killedAt = performance.now();
    await cluster.kill(leader.name);
    const next = await cluster.waitForLeader({ exclude: leader.name, minTerm: leader.term + 1, pollMs: 10 });
    console.log(`  ${bold(next.name)} leads (term ${next.term}), seen ${Math.round(next.seenAtMs - killedAt)} ms after the kill`);
    const after = await tug(['cluster', 'status']);
    check(after.code === 0 && new RegExp(`${next.name}\\s+\\S+\\s+leader`).test(after.stdout), 'tug cluster status does not show the new leader');

    console.log(bold('\n3. Read and write through the two members left'));
    const survivors = cluster.members.filter((m) => m.running).map((m) => m.apiAddress);
    const read = await tug(['get', 'configmap', 'web-config', '-n', 'quickstart'], { endpoints: survivors });
    check(read.code === 0 && read.stdout.includes('web-config'), 'reading web-config through the survivors failed');
    const changed = join(scratch, 'web-config.yaml');
    writeFileSync(
      changed,
      readFileSync(example, 'utf8')
        .split(/^---$/m)
        .find((d) => d.includes('kind: ConfigMap'))!
        .replace('GREETING: hello from tugboat', 'GREETING: hello again, with a member down')
        .replace('LOG_LEVEL: info', 'LOG_LEVEL: debug')
        .trim() + '\n',
    );
    console.log(dim(`  (web-config.yaml: the ConfigMap of the example with LOG_LEVEL: debug and a new GREETING)`));
    const reapplied = await tug(['apply', '-f', changed], { endpoints: survivors, show: 'apply -f web-config.yaml' });
    check(reapplied.code === 0 && reapplied.stdout.includes('configured'), 'tug apply of the changed ConfigMap failed');
    const reread = await tug(['describe', 'configmap', 'web-config', '-n', 'quickstart'], { endpoints: survivors });
    check(reread.code === 0 && reread.stdout.includes('hello again'), 'the changed ConfigMap does not read back');

    console.log(bold(`\n4. Restart ${leader.name} on its data dir; it catches up`));
    const restartAt = performance.now();
    await cluster.restart(leader.name);
    const same = await cluster.sameObjects();
    console.log(`  ${leader.name} is back (pid ${cluster.member(leader.name).pid}) and ready after ${ms(restartAt)}`);
    for (const m of cluster.members) {
      const h = await cluster.objectHash(m.name);
      console.log(`  ${m.name}: ${h.objects} objects, hash ${h.hash.slice(0, 16)}`);
    }
    const own = await cluster.clientOf(leader.name).configMaps.get('quickstart', 'web-config', { staleOk: true });
    check(own.data?.['LOG_LEVEL'] === 'debug', `${leader.name} does not hold the change made while it was down`);
    console.log(`  ${leader.name}'s own copy of web-config (a stale-ok read at ${leader.name}): LOG_LEVEL=${own.data?.['LOG_LEVEL']}`);
    await tug(['cluster', 'status']);

    console.log(`\n${bold('PASS')} (the same ${same.objects} objects on all three members; ${ms(t0)} in all)`);
    return true;
  } catch (err) {
    console.log(`\n${bold('FAIL')}: ${(err as Error).message}`);
    for (const m of cluster.members) console.log(`--- last log lines of ${m.name}\n${cluster.logTail(m.name, 8)}`);
    return false;
  } finally {
    await cluster.stop();
    rmSync(scratch, { recursive: true, force: true });
    console.log(dim(`  cleaned up: members stopped, ${cluster.dir} removed`));
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(`FAIL: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
