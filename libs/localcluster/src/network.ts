// network.ts: the cluster's network on the host: a bridge with the host's address, and per
// node a network namespace whose eth0 is one end of a veth pair on that bridge.
import { HostError, linkNames, netnsNames, run, tryRun } from './host.ts';
import type { ClusterNames, ClusterPlan } from './plan.ts';

/** networkCommands lists the commands that make the cluster's network, in order (pure). */
export function networkCommands(plan: ClusterPlan): string[][] {
  const cmds: string[][] = [
    ['ip', 'link', 'add', plan.bridge, 'type', 'bridge'],
    ['ip', 'addr', 'add', `${plan.hostIp}/24`, 'dev', plan.bridge],
    ['ip', 'link', 'set', plan.bridge, 'up'],
  ];
  for (const n of plan.nodes) {
    cmds.push(
      ['ip', 'netns', 'add', n.netns],
      // The peer is made inside the namespace, already named eth0.
      ['ip', 'link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns],
      ['ip', 'link', 'set', n.hostVeth, 'master', plan.bridge, 'up'],
      ['ip', '-n', n.netns, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', n.netns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'],
      ['ip', '-n', n.netns, 'link', 'set', 'eth0', 'up'],
      ['ip', '-n', n.netns, 'route', 'add', 'default', 'via', plan.hostIp],
      // The node routes between its pods' bridge and eth0 (other nodes' pod CIDRs).
      ['nsenter', `--net=${n.netnsPath}`, '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
    );
  }
  return cmds;
}

/** createNetwork runs networkCommands; a failure names the command and what it printed. */
export function createNetwork(plan: ClusterPlan): void {
  for (const cmd of networkCommands(plan)) {
    try {
      run(cmd);
    } catch (err) {
      throw new HostError(`making the network of cluster ${plan.name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** deleteNetwork removes the cluster's namespaces, veths and bridge, found by name; returns what it removed. */
export function deleteNetwork(names: ClusterNames): string[] {
  const removed: string[] = [];
  for (const ns of netnsNames(names.netnsPrefix)) {
    if (tryRun(['ip', 'netns', 'delete', ns])) removed.push(`network namespace ${ns}`);
  }
  // Deleting a namespace takes its veth end with it (and the host end); the rest go by name.
  for (const link of linkNames(names.bridge, names.vethPrefix).sort((a, b) => b.localeCompare(a))) {
    if (tryRun(['ip', 'link', 'delete', link])) removed.push(`link ${link}`);
  }
  return removed;
}
