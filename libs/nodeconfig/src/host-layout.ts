// host-layout.ts: where an installed host (deploy/install.sh, a Vagrant machine) keeps tugboat,
// and the files it is configured with (pure): containerd's config and the units of tug-control
// and tug-agent, rendered with the same flags `tug cluster up` gives its nodes.
import { join } from 'node:path';
import { renderContainerdConfig } from '@tugboat/cri';
import { pkiFolderFiles } from '@tugboat/pki';
import { agentArgs, controlArgs } from './program-args.ts';
import type { CgroupDriver, Founding } from './program-args.ts';
import { agentUnit, AGENT_UNIT, CONTROL_UNIT, controlUnit } from './units.ts';
import type { UnitPrograms } from './units.ts';

export const API_PORT = 7400;
export const PEER_PORT = 7401;
export const AGENT_PORT = 7402;
export const CNI_BIN_DIR = '/usr/lib/cni';
export const SANDBOX_IMAGE = 'tugboat.local/pause:latest';

/** CONTROL_STATE_DIRECTORY: tug-control's data dir below /var/lib (systemd's StateDirectory=). */
const CONTROL_STATE_DIRECTORY = 'tugboat/control';

/** HOST_PATHS: an installed host's files and dirs. */
export const HOST_PATHS = {
  pkiDir: '/etc/tugboat/pki',
  controlDir: `/var/lib/${CONTROL_STATE_DIRECTORY}`,
  agentDir: '/var/lib/tugboat/agent',
  imagesDir: '/var/lib/tugboat/images',
  /** The bundles of tug-control and tug-agent (and the checkout they were made from, app/). */
  programsDir: '/opt/tugboat/bin',
  appDir: '/opt/tugboat/app',
  containerdConfig: '/etc/containerd/config.toml',
  containerdSocket: '/run/containerd/containerd.sock',
  cniConfDir: '/etc/cni/net.d',
  cniDataDir: '/var/lib/cni/networks',
  unitDir: '/etc/systemd/system',
} as const;

export interface HostSettings {
  readonly nodeName: string;
  /** The IPv4 address the node is reached at (its certificates name it). */
  readonly address: string;
  /** A control member's founding; undefined on a worker-only host. */
  readonly founding: Founding | undefined;
  /** API addresses the agent dials; the host's own comes first on a control host. */
  readonly apiEndpoints: readonly string[];
  readonly cgroupDriver: CgroupDriver;
  readonly programs: UnitPrograms;
}

/** HostFile is one file to write: its absolute path, content and mode. */
export interface HostFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** hostFiles renders containerd's config and the units (tug-control's only on a control host). */
export function hostFiles(s: HostSettings): HostFile[] {
  const pki = pkiFolderFiles(HOST_PATHS.pkiDir);
  const containerd = renderContainerdConfig({
    root: '/var/lib/containerd',
    state: '/run/containerd',
    socket: HOST_PATHS.containerdSocket,
    sandboxImage: SANDBOX_IMAGE,
    runcRoot: '/run/containerd/runc',
    cniBinDir: CNI_BIN_DIR,
    cniConfDir: HOST_PATHS.cniConfDir,
    streamServerAddress: '127.0.0.1',
    systemdCgroup: s.cgroupDriver === 'systemd',
  });
  const agent = agentArgs({
    nodeName: s.nodeName,
    apiEndpoints: s.apiEndpoints,
    containerdSocket: HOST_PATHS.containerdSocket,
    nodeIp: s.address,
    dataDir: HOST_PATHS.agentDir,
    listen: `${s.address}:${AGENT_PORT}`,
    cniConfDir: HOST_PATHS.cniConfDir,
    cniDataDir: HOST_PATHS.cniDataDir,
    cgroupParent: s.cgroupDriver === 'systemd' ? 'tugboat.slice' : '/tugboat',
    cgroupDriver: s.cgroupDriver,
    tls: pki.agent,
  });
  const files: HostFile[] = [
    { path: HOST_PATHS.containerdConfig, content: containerd, mode: 0o644 },
    { path: join(HOST_PATHS.unitDir, AGENT_UNIT), content: agentUnit(s.programs, agent), mode: 0o644 },
  ];
  if (s.founding !== undefined) {
    const control = controlArgs({
      name: s.nodeName,
      dataDir: HOST_PATHS.controlDir,
      listenPeer: `${s.address}:${PEER_PORT}`,
      listenApi: `${s.address}:${API_PORT}`,
      founding: s.founding,
      tls: pki.member,
      caKeyFile: pki.caKeyFile,
      encryptionKeyFile: pki.encryptionKeyFile,
    });
    files.push({ path: join(HOST_PATHS.unitDir, CONTROL_UNIT), content: controlUnit(s.programs, control, CONTROL_STATE_DIRECTORY, [HOST_PATHS.pkiDir]), mode: 0o644 });
  }
  return files;
}
