// @tugboat/nodeconfig: what a node runs and how it is configured, rendered once for both the
// nodes of `tug cluster up` and installed hosts (deploy/install.sh, Vagrant machines): the
// flags of tug-control and tug-agent, containerd's config and the systemd units.
export { AGENT_NODE_FLAGS, agentArgs, controlArgs } from './program-args.ts';
export type { AgentSettings, CgroupDriver, ControlSettings, Founding } from './program-args.ts';
export type { UnitPrograms } from './units.ts';
export { AGENT_PORT, API_PORT, CNI_BIN_DIR, HOST_PATHS, PEER_PORT, SANDBOX_IMAGE, hostFiles } from './host-layout.ts';
export type { HostFile, HostSettings } from './host-layout.ts';
