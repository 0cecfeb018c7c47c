// chaos-commands.ts: `tug chaos kill-node` and `tug chaos start-node`: a node of a local cluster
// dies (every process of it SIGKILLed, its containers included) and comes back
// (@tugboat/localcluster killNode / startNode).
import type { Command } from 'commander';
import { DEFAULT_CLUSTER_NAME, killNode, startNode } from '@tugboat/localcluster';
import type { KillResult } from '@tugboat/localcluster';
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

/** addChaosCommands adds `tug chaos` and its actions. */
export function addChaosCommands(program: Command, io: Io): void {
  const chaos = program
    .command('chaos')
    .summary('make a node of a local cluster fail and come back (root)')
    .description('Failures on purpose, on a local cluster (tug cluster up): to watch the cluster recover.')
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
}
