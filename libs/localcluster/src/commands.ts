// commands.ts: the command lines and config files of a node's processes (pure), with the flags
// and containerd config @tugboat/nodeconfig renders for installed hosts too. Every process
// runs inside its node's network namespace through `nsenter --net=PATH`, which enters only the
// network namespace (`ip netns exec` would also give it a mount namespace of its own, hiding
// its mounts from the host and from `down`).
import { join } from 'node:path';
import { renderContainerdConfig } from '@tugboat/cri';
import { agentArgs, CNI_BIN_DIR, controlArgs, SANDBOX_IMAGE } from '@tugboat/nodeconfig';
import type { ClusterPlan, NodePlan } from './plan.ts';

export type Role = 'containerd' | 'control' | 'agent';

/** The order `up` starts roles in; `down` stops them in reverse. */
export const START_ORDER: readonly Role[] = ['containerd', 'control', 'agent'];

/** Programs are the executables and entry points the node processes run. */
export interface Programs {
  /** The Node.js binary (process.execPath). */
  readonly node: string;
  readonly containerd: string;
  /** The bundle of tug-control (programs.ts). */
  readonly controlMain: string;
  /** The bundle of tug-agent (programs.ts). */
  readonly agentMain: string;
  /** Node.js flags tug-agent runs with (programs.ts: AGENT_NODE_FLAGS). */
  readonly agentNodeFlags: readonly string[];
}

/** LaunchSpec is one process to start: its argv (argv[0] is the program) and its log file. */
export interface LaunchSpec {
  readonly node: string;
  readonly role: Role;
  readonly argv: readonly string[];
  readonly logFile: string;
}

export function logFileOf(node: NodePlan, role: Role): string {
  return join(node.paths.logDir, `${role}.log`);
}

/** inNetns wraps argv so it runs in the node's network namespace (same PID: nsenter execs). */
export function inNetns(node: NodePlan, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${node.netnsPath}`, '--', ...argv];
}

/** containerdConfig is the node's containerd config.toml. */
export function containerdConfig(node: NodePlan): string {
  const p = node.paths;
  return renderContainerdConfig({
    root: p.containerdRoot,
    state: p.containerdState,
    socket: p.containerdSocket,
    sandboxImage: SANDBOX_IMAGE,
    runcRoot: p.runcRoot,
    cniBinDir: CNI_BIN_DIR,
    cniConfDir: p.cniConfDir,
    netnsUnderStateDir: true,
    streamServerAddress: '127.0.0.1',
  });
}

export function containerdArgv(node: NodePlan, programs: Programs): string[] {
  return [programs.containerd, '--config', node.paths.containerdConfig, '--log-level', 'info'];
}

/** controlArgv is tug-control on a control node, founding the cluster with every control node,
 *  sealing Secrets with the cluster's key file. */
export function controlArgv(plan: ClusterPlan, node: NodePlan, programs: Programs): string[] {
  if (node.apiAddress === undefined || node.peerAddress === undefined) throw new Error(`${node.name} is not a control node`);
  const initialCluster = plan.nodes.flatMap((n) => (n.peerAddress === undefined ? [] : [{ name: n.name, peerAddress: n.peerAddress }]));
  return [
    programs.node,
    programs.controlMain,
    ...controlArgs({
      name: node.name,
      dataDir: node.paths.controlDir,
      listenPeer: node.peerAddress,
      listenApi: node.apiAddress,
      founding: { initialCluster },
      tls: node.paths.controlTls,
      caKeyFile: plan.pki.caKeyFile,
      encryptionKeyFile: plan.pki.encryptionKeyFile,
    }),
  ];
}

export function agentArgv(plan: ClusterPlan, node: NodePlan, programs: Programs): string[] {
  return [
    programs.node,
    ...programs.agentNodeFlags,
    programs.agentMain,
    ...agentArgs({
      nodeName: node.name,
      apiEndpoints: plan.apiEndpoints,
      containerdSocket: node.paths.containerdSocket,
      nodeIp: node.ip,
      dataDir: node.paths.agentDir,
      listen: node.agentAddress,
      cniConfDir: node.paths.cniConfDir,
      cniDataDir: node.paths.cniDataDir,
      cgroupParent: node.cgroupParent,
      tls: node.paths.agentTls,
    }),
  ];
}

/** launchSpecs lists the processes of one role on every node that runs it. */
export function launchSpecs(plan: ClusterPlan, role: Role, programs: Programs): LaunchSpec[] {
  const nodes = role === 'control' ? plan.nodes.filter((n) => n.control) : plan.nodes;
  return nodes.map((node) => {
    const argv = role === 'containerd' ? containerdArgv(node, programs) : role === 'control' ? controlArgv(plan, node, programs) : agentArgv(plan, node, programs);
    return { node: node.name, role, argv: inNetns(node, argv), logFile: logFileOf(node, role) };
  });
}
