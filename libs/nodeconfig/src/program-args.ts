// program-args.ts: the command-line flags of tug-control and tug-agent for one node (pure). The
// one place they are written: `tug cluster up` starts its nodes' processes with them, and the
// systemd units an installed host runs (units.ts) carry the same.
import type { TlsFiles } from '@tugboat/pki';

/** Founding is how a control member first starts: founding a new cluster with the members
 *  listed, or joining a running one through a member's API address. A member that has a data
 *  dir ignores both when it starts again. */
export type Founding =
  | { readonly initialCluster: readonly { readonly name: string; readonly peerAddress: string }[] }
  | { readonly join: string };

export interface ControlSettings {
  readonly name: string;
  readonly dataDir: string;
  /** HOST:PORT of Raft traffic and of the API. */
  readonly listenPeer: string;
  readonly listenApi: string;
  readonly founding: Founding;
  readonly tls: TlsFiles;
  /** The CA key: the member signs the certificates of nodes that join and renewals. */
  readonly caKeyFile: string;
  /** The keys Secrets are sealed with at rest. */
  readonly encryptionKeyFile: string;
}

/**
 * AGENT_NODE_FLAGS: tug-agent runs with a 1 MiB young generation (V8's semi-space; the default
 * grows to 16 MiB or more). Measured with 110 pods per node started at once (`bench:pods --pods
 * 330`): the agents ended at 113–120 MiB VmRSS instead of 123–170 MiB, for 5 % more agent CPU
 * (14.1 against 13.4 s) and the same start times. A node agent's memory is what every node
 * pays; its CPU is small beside the runtime's.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

export type CgroupDriver = 'cgroupfs' | 'systemd';

export interface AgentSettings {
  readonly nodeName: string;
  /** API addresses of control members, tried in turn. */
  readonly apiEndpoints: readonly string[];
  readonly containerdSocket: string;
  readonly nodeIp: string;
  readonly dataDir: string;
  /** HOST:PORT of the logs, exec and stats service. */
  readonly listen: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  /** A cgroupfs path, or a slice under the systemd driver. */
  readonly cgroupParent: string;
  /** Default cgroupfs (the flag is then left out). */
  readonly cgroupDriver?: CgroupDriver;
  readonly tls: TlsFiles;
}

/** tlsArgs gives a program its certificate, key and the cluster CA. */
function tlsArgs(files: TlsFiles): string[] {
  return ['--ca-file', files.caFile, '--cert-file', files.certFile, '--key-file', files.keyFile];
}

/** controlArgs are tug-control's flags. */
export function controlArgs(s: ControlSettings): string[] {
  const founding =
    'join' in s.founding
      ? ['--join', s.founding.join]
      : ['--initial-cluster', s.founding.initialCluster.map((m) => `${m.name}=${m.peerAddress}`).join(',')];
  return [
    '--name', s.name,
    '--data-dir', s.dataDir,
    '--listen-peer', s.listenPeer,
    '--listen-api', s.listenApi,
    ...founding,
    ...tlsArgs(s.tls),
    '--ca-key-file', s.caKeyFile,
    '--encryption-key-file', s.encryptionKeyFile,
  ];
}

/** agentArgs are tug-agent's flags. */
export function agentArgs(s: AgentSettings): string[] {
  return [
    '--node-name', s.nodeName,
    '--api', s.apiEndpoints.join(','),
    '--containerd', s.containerdSocket,
    '--node-ip', s.nodeIp,
    '--data-dir', s.dataDir,
    '--listen', s.listen,
    '--cni-conf-dir', s.cniConfDir,
    '--cni-data-dir', s.cniDataDir,
    '--cgroup-parent', s.cgroupParent,
    ...(s.cgroupDriver === 'systemd' ? ['--cgroup-driver', 'systemd'] : []),
    ...tlsArgs(s.tls),
  ];
}
