// chaos-commands.ts: `tug chaos`: faults on purpose on a local cluster (@tugboat/localcluster's
// chaos.ts, chaos-network.ts): a node dies (every process of it SIGKILLed, its containers
// included) and comes back, or restarts; its tugboat processes hang (SIGSTOP) and wake; nodes
// are partitioned from each other; a node's link gets delay and loss; a pod crashes. `status`
// lists the active faults and `heal --all` undoes them. Every action goes to the chaos log.
import type { Command } from 'commander';
import {
  DEFAULT_CLUSTER_NAME,
  adminSecurity,
  chaosLogFile,
  chaosStatus,
  clearNetem,
  describeNetem,
  existingPlan,
  healAll,
  healPartitions,
  killMember,
  killNode,
  killPod,
  netem,
  parseMs,
  parsePercent,
  partition,
  pauseNode,
  resumeNode,
  startNode,
} from '@tugboat/localcluster';
import { TugClient } from '@tugboat/client';
import type { KillResult, LinkDrop, NetemSpec, ProcessRecord } from '@tugboat/localcluster';
import { UsageError } from './errors.ts';
import type { Io } from './session.ts';
import { clusterName, failure } from './local-commands.ts';
import { addChaosRunCommand } from './chaos-run-command.ts';

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

/** dropList says which nodes drop what from which: "node-1 drops node-2, node-3; node-2 drops node-1". */
export function dropList(drops: readonly LinkDrop[]): string {
  const by = new Map<string, string[]>();
  for (const d of drops) by.set(d.node, [...(by.get(d.node) ?? []), d.from]);
  return [...by].map(([node, from]) => `${node} drops ${from.join(', ')}`).join('; ');
}

/** addChaosCommands adds `tug chaos` and its actions. */
export function addChaosCommands(program: Command, io: Io): void {
  const chaos = program
    .command('chaos')
    .summary('make nodes of a local cluster fail and come back (root)')
    .description('Failures on purpose, on a local cluster (tug cluster up): to watch the cluster recover: nodes killed, paused or partitioned, links delayed and lossy, pods crashed. Every action is written with its time to the cluster\'s chaos log (BASE/chaos.log); `tug chaos status` lists the faults active now and `tug chaos heal --all` undoes them.')
    .usage('COMMAND');
  addChaosRunCommand(chaos, io);
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
    .command('partition')
    .summary('cut nodes off from the others: packets between the sides are dropped')
    .description(
      'Drop every packet between NODES and the other nodes (or those of --from), both ways, or with --one-way only what NODES receive from them. The drops are made where packets arrive, in each node\'s network namespace, by the sender\'s link address, so a node\'s pods are cut off with it; your machine still reaches every node. Undo with `tug chaos heal`.',
    )
    .argument('<nodes>', 'the nodes of one side, comma-separated, e.g. node-1 or node-1,node-2')
    .option('--from <nodes>', 'the nodes of the other side, comma-separated (default: every other node)')
    .option('--one-way', 'drop only what NODES receive from the other side; what they send gets through')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action((nodes: string, flags: { from?: string; oneWay?: boolean; name?: string }) => {
      const name = clusterName(flags.name, 'chaos partition');
      const side = (list: string): string[] => list.split(',').map((n) => n.trim()).filter((n) => n !== '');
      try {
        const drops = partition(name, side(nodes), flags.from === undefined ? undefined : side(flags.from), flags.oneWay === true);
        io.stdout.write(`partitioned local cluster "${name}": ${drops.length === 0 ? 'those drops are in place already' : dropList(drops)}\n`);
      } catch (err) {
        throw failure(err, 'chaos partition');
      }
    });
  chaos
    .command('netem')
    .summary("delay and lose packets leaving a node's link")
    .description(
      "Add delay (with --jitter) and loss to what leaves NODE's eth0, with tc's netem; a second call replaces the first, --clear removes it. On a kernel without netem, both act where NODE's frames reach the host's bridge: loss by iptables' statistic match, delay by tug-netdelay (an NFQUEUE reader that deploy/setup.sh compiles).",
    )
    .argument('<node>', 'the node, e.g. node-2')
    .option('--delay <duration>', 'added to every packet, e.g. 200ms')
    .option('--jitter <duration>', 'the delay varies by up to this much, e.g. 20ms')
    .option('--loss <percent>', 'of packets dropped, e.g. 10%')
    .option('--clear', 'remove the delay and loss of NODE')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (node: string, flags: { delay?: string; jitter?: string; loss?: string; clear?: boolean; name?: string }) => {
      const name = clusterName(flags.name, 'chaos netem');
      let spec: NetemSpec;
      try {
        if (flags.clear === true && (flags.delay !== undefined || flags.loss !== undefined || flags.jitter !== undefined)) throw new Error('--clear takes no --delay, --jitter or --loss');
        spec = {
          delayMs: flags.delay === undefined ? 0 : parseMs(flags.delay, '--delay'),
          jitterMs: flags.jitter === undefined ? 0 : parseMs(flags.jitter, '--jitter'),
          lossPercent: flags.loss === undefined ? 0 : parsePercent(flags.loss, '--loss'),
        };
      } catch (err) {
        throw new UsageError((err as Error).message, 'chaos netem');
      }
      try {
        if (flags.clear === true) {
          const cleared = await clearNetem(name, node);
          io.stdout.write(cleared.length === 0 ? `${node} of local cluster "${name}" has no delay or loss\n` : `cleared the delay and loss of ${node} of local cluster "${name}"\n`);
          return;
        }
        const f = await netem(name, node, spec);
        io.stdout.write(`${node} of local cluster "${name}": ${describeNetem(f)}\n`);
      } catch (err) {
        throw failure(err, 'chaos netem');
      }
    });
  chaos
    .command('kill-pod')
    .summary('SIGKILL every process of a pod, as a crash would')
    .description("SIGKILL every process of a pod on its node, its sandbox included, as a crash of the whole pod would. The node's agent finds the sandbox dead and makes the pod again (its restart count goes up). The pod is found through the API (its node and uid), in the namespace of -n.")
    .argument('<pod>', 'the pod name')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (pod: string, flags: { name?: string }, cmd: Command) => {
      const name = clusterName(flags.name, 'chaos kill-pod');
      const namespace = cmd.optsWithGlobals<{ namespace?: string }>().namespace ?? 'default';
      try {
        const plan = existingPlan(name);
        const client = new TugClient({ endpoints: plan.apiEndpoints, security: adminSecurity(plan.baseDir), retryBudgetMs: 10_000 });
        let found;
        try {
          found = await client.pods.get(namespace, pod);
        } finally {
          client.close();
        }
        const node = found.spec?.nodeName;
        const uid = found.metadata.uid;
        if (node === undefined || node === '' || uid === undefined) throw new Error(`pod ${namespace}/${pod} is not on a node yet`);
        const killed = await killPod(name, node, uid, `${namespace}/${pod}`);
        io.stdout.write(`killed pod ${namespace}/${pod} on ${node} of local cluster "${name}": ${killed.length} process${killed.length === 1 ? '' : 'es'}\n`);
      } catch (err) {
        throw failure(err, 'chaos kill-pod');
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
        const lines = [
          ...st.down.map((n) => `${n}: down (tug chaos start-node ${n})`),
          ...st.paused.map((n) => `${n}: paused (tug chaos resume-node ${n})`),
          ...(st.partitions.length === 0 ? [] : [`partition: ${dropList(st.partitions)} (tug chaos heal)`]),
          ...st.netem.map((f) => `${f.node}: ${describeNetem(f)} (tug chaos netem ${f.node} --clear)`),
        ];
        io.stdout.write(`${lines.length === 0 ? 'no active faults' : lines.join('\n')}\nchaos log: ${chaosLogFile(existingPlan(name))}\n`);
      } catch (err) {
        throw failure(err, 'chaos status');
      }
    });
  chaos
    .command('heal')
    .summary('remove partitions; with --all, undo every active fault')
    .description('Remove the partition drops in place: all of them, or those of the NODES given. With --all, undo every active fault: partitions and netem removed, paused nodes resumed, down nodes started.')
    .argument('[nodes]', 'only the drops where one of these nodes (comma-separated) sends or receives')
    .option('--all', 'undo every active fault, not only partitions')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (nodes: string | undefined, flags: { all?: boolean; name?: string }) => {
      const name = clusterName(flags.name, 'chaos heal');
      try {
        if (flags.all === true) {
          if (nodes !== undefined) throw new UsageError('--all heals every fault of every node: give no nodes with it', 'chaos heal');
          const healed = await healAll(name);
          const what = [
            ...(healed.partitions.length > 0 ? [`${healed.partitions.length} partition drop${healed.partitions.length === 1 ? '' : 's'} removed`] : []),
            ...healed.netem.map((f) => `${f.node} netem cleared`),
            ...healed.paused.map((n) => `${n} resumed`),
            ...healed.down.map((n) => `${n} started`),
          ];
          io.stdout.write(`${what.length === 0 ? 'no active faults to heal' : `healed local cluster "${name}": ${what.join(', ')}`}\n`);
          return;
        }
        const healed = healPartitions(name, nodes?.split(',').map((n) => n.trim()).filter((n) => n !== ''));
        io.stdout.write(`${healed.length === 0 ? 'no partition to heal' : `healed local cluster "${name}": ${dropList(healed)} removed`}\n`);
      } catch (err) {
        throw failure(err, 'chaos heal');
      }
    });
}
