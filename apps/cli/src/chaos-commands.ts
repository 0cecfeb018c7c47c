// chaos-commands.ts: `tug chaos`: faults on purpose on a local cluster (@tugboat/localcluster's
// chaos.ts): a node dies (every process of it SIGKILLed, its containers included) and comes
// back, or restarts; its tugboat processes hang (SIGSTOP) and wake; `status` lists the active
// faults and `heal --all` undoes them. Every action goes to the cluster's chaos log.
import type { Command } from 'commander';
import { DEFAULT_CLUSTER_NAME, adminSecurity, chaosLogFile, chaosStatus, existingPlan, healAll, killMember, killNode, pauseNode, resumeNode, startNode } from '@tugboat/localcluster';
import { TugClient } from '@tugboat/client';
import type { KillResult, ProcessRecord } from '@tugboat/localcluster';
import type { Io } from './session.ts';
import { clusterName, failure } from './local-commands.ts';

/** killSummary says what kill-node ended, e.g. "agent (pid 12), containerd (pid 10), 2 shims, 3 container processes". */
export function killSummary(r: KillResult): string {
  const parts: string[] = [];
  for (const what of ['agent', 'control', 'containerd'] as const) {
    for (const p of r.killed.filter((k) => k.what === what)) parts.push(`${what === 'control' ? 'tug-control' : what === 'agent' ? 'tug-agent' : what} (pid ${p.pid})`);
  }
  const shims = r.killed.filter((k) => k.what === 'shim').length;
  const containers = r.killed.filter((k) => k.what === 'container').length;
  if (shims > 0) parts.push(`${shims} shim${shims === 1 ? '' : 's'}`);
  if (containers > 0) parts.push(`${containers} container process${containers === 1 ? '' : 'es'}`);
  return parts.length === 0 ? 'nothing was running' : parts.join(', ');
}

/** processList names processes: "control (pid 12), agent (pid 14)". */
function processList(ps: readonly ProcessRecord[]): string {
  return ps.map((p) => `${p.role === 'control' ? 'tug-control' : p.role === 'agent' ? 'tug-agent' : p.role} (pid ${p.pid})`).join(', ');
}

/** addChaosCommands adds `tug chaos` and its actions. */
export function addChaosCommands(program: Command, io: Io): void {
  const chaos = program
    .command('chaos')
    .summary('make nodes of a local cluster fail and come back (root)')
    .description('Failures on purpose, on a local cluster (tug cluster up): to watch the cluster recover. Every action is written with its time to the cluster\'s chaos log (BASE/chaos.log); `tug chaos status` lists the faults active now and `tug chaos heal --all` undoes them.')
    .usage('COMMAND');
  chaos
    .command('kill-node')
    .summary('SIGKILL every process of a node, its containers included')
    .description(
      'SIGKILL every process of a node of a local cluster at once, as a power cut would: its tug-agent, its tug-control (on a control node), its containerd, the containerd shims and every container process. Its network namespace and files stay. The control plane marks the Node NotReady after the grace period and its pods are made again elsewhere. Bring it back with `tug chaos start-node`.',
    )
    .argument('<node>', 'the node, e.g. node-2')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (node: string, flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos kill-node');
      let r: KillResult;
      try {
        r = await killNode(name, node);
      } catch (err) {
        throw failure(err, 'chaos kill-node');
      }
      io.stdout.write(`killed ${node} of local cluster "${name}": ${killSummary(r)}\n`);
    });
  chaos
    .command('start-node')
    .summary('start a killed node again')
    .description('Start the processes of a node killed with `tug chaos kill-node` again (containerd, tug-control on a control node, tug-agent), with the same command lines; waits until its containerd answers. The agent then registers the Node again and heartbeats.')
    .argument('<node>', 'the node, e.g. node-2')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (node: string, flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos start-node');
      let started;
      try {
        started = await startNode(name, node);
      } catch (err) {
        throw failure(err, 'chaos start-node');
      }
      io.stdout.write(`started ${node} of local cluster "${name}": ${started.map((p) => `${p.role} (pid ${p.pid})`).join(', ')}\n`);
    });
  chaos
    .command('restart-node')
    .summary('kill a node and start it again at once')
    .description('`tug chaos kill-node` then `tug chaos start-node`: every process of the node SIGKILLed, then started again with the same command lines.')
    .argument('<node>', 'the node, e.g. node-2')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (node: string, flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos restart-node');
      try {
        const killed = await killNode(name, node);
        const started = await startNode(name, node);
        io.stdout.write(`restarted ${node} of local cluster "${name}": killed ${killSummary(killed)}; started ${processList(started)}\n`);
      } catch (err) {
        throw failure(err, 'chaos restart-node');
      }
    });
  chaos
    .command('kill-leader')
    .summary("SIGKILL the Raft leader's tug-control")
    .description("Ask the cluster which member leads, and SIGKILL that member's tug-control (its node's agent and containers run on). The others elect a new leader; `tug chaos start-node` (or `heal --all`) starts the killed member again, and it catches up as a follower.")
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos kill-leader');
      try {
        const plan = existingPlan(name);
        const client = new TugClient({ endpoints: plan.apiEndpoints, security: adminSecurity(plan.baseDir), retryBudgetMs: 10_000 });
        let leader: { name: string; term: bigint | number } | undefined;
        try {
          leader = (await client.cluster.status()).members.find((m) => m.role === 'leader');
        } finally {
          client.close();
        }
        if (leader === undefined) throw new Error(`local cluster ${name} has no leader now (tug cluster status)`);
        const killed = await killMember(name, leader.name, `leader of term ${leader.term}`);
        io.stdout.write(`killed the leader ${leader.name} (term ${leader.term}) of local cluster "${name}": tug-control (pid ${killed.pid})\n`);
      } catch (err) {
        throw failure(err, 'chaos kill-leader');
      }
    });
  chaos
    .command('pause-node')
    .summary("stop (SIGSTOP) a node's tug-control and tug-agent; its containers run on")
    .description("Stop the tugboat processes of a node (SIGSTOP): its tug-control, on a control node, and its tug-agent hang as in a long stall, while containerd and the containers run on. A paused leader is replaced by the others; when it wakes it must find itself a follower. Wake it with `tug chaos resume-node`.")
    .argument('<node>', 'the node, e.g. node-1')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action((node: string, flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos pause-node');
      try {
        io.stdout.write(`paused ${node} of local cluster "${name}": ${processList(pauseNode(name, node))}\n`);
      } catch (err) {
        throw failure(err, 'chaos pause-node');
      }
    });
  chaos
    .command('resume-node')
    .summary('continue (SIGCONT) what pause-node stopped')
    .argument('<node>', 'the node, e.g. node-1')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action((node: string, flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos resume-node');
      try {
        io.stdout.write(`resumed ${node} of local cluster "${name}": ${processList(resumeNode(name, node))}\n`);
      } catch (err) {
        throw failure(err, 'chaos resume-node');
      }
    });
  chaos
    .command('status')
    .summary('list the faults active now, and where the chaos log is')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action((flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos status');
      try {
        const st = chaosStatus(name);
        const lines = [...st.down.map((n) => `${n}: down (tug chaos start-node ${n})`), ...st.paused.map((n) => `${n}: paused (tug chaos resume-node ${n})`)];
        io.stdout.write(`${lines.length === 0 ? 'no active faults' : lines.join('\n')}\nchaos log: ${chaosLogFile(existingPlan(name))}\n`);
      } catch (err) {
        throw failure(err, 'chaos status');
      }
    });
  chaos
    .command('heal')
    .summary('undo every active fault: resume paused nodes, start down ones')
    .requiredOption('--all', 'every active fault (the only choice for now)')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (flags: { name?: string }) => {
      const name = clusterName(flags.name, 'chaos heal');
      try {
        const healed = await healAll(name);
        const what = [...healed.paused.map((n) => `${n} resumed`), ...healed.down.map((n) => `${n} started`)];
        io.stdout.write(`${what.length === 0 ? 'no active faults to heal' : `healed local cluster "${name}": ${what.join(', ')}`}\n`);
      } catch (err) {
        throw failure(err, 'chaos heal');
      }
    });
}
