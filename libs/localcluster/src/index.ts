// @tugboat/localcluster: a multi-node tugboat cluster on one Linux machine (root): each node a
// network namespace on a host bridge with its own containerd, tug-agent and, on control
// nodes, tug-control. upCluster / downCluster / loadImage / leftovers are what `tug cluster
// up|down|load-image` and the e2e tests call.
export { upCluster, ClusterExistsError, ReadinessError, nodeProblem } from './up.ts';
export { bundlePrograms, PROGRAM_FILES, PROGRAM_SOURCES, programsDir } from './programs.ts';
export type { UpOptions, ClusterInfo, NodeInfo } from './up.ts';
export { downCluster, roleOf } from './down.ts';
export type { DownOptions, DownResult, DownSummary } from './down.ts';
export { leftovers } from './leftovers.ts';
export { adminSecurity } from './pki.ts';
export { ctrImport, ensureImageTars } from './images.ts';
export { writeIfChanged } from './files.ts';
export { loadImage, existingPlan, NoClusterError } from './existing.ts';
export { HostError, checkHost } from './host.ts';
export {
  planCluster,
  clusterNames,
  subnetForName,
  checkClusterName,
  PlanError,
  isPlanError,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_STATE_ROOT,
  MAX_NODES,
  clusterPkiPaths,
} from './plan.ts';
export type { ClusterPlan, ClusterPkiPaths, NodePlan, NodePaths, PlanOptions, ClusterNames } from './plan.ts';
export { killProcess, startProcess, restartProcess } from './restart.ts';
export { chaosStatus, healAll, killMember, killNode, killPod, nodeProcesses, pauseNode, resumeNode, startNode } from './chaos.ts';
export { chaosLogFile } from './chaos-state.ts';
export { clearNetem, healPartitions, netem, partition } from './chaos-network.ts';
export { applyIptablesNetem, applyLinkNetem, removeLinkNetem } from './link-netem.ts';
export type { LinkNetem, NetemLink } from './link-netem.ts';
export { describeNetem, NETDELAY_BIN, NETEM_COMMENT, parseMs, parsePercent } from './network-faults.ts';
export type { HostEnd, LinkDrop, NetemFault, NetemSpec } from './network-faults.ts';
export type { ChaosOptions, ChaosStatus, KillResult, NodeProcess } from './chaos.ts';
export type { RestartOptions } from './restart.ts';
export type { Role } from './commands.ts';
export type { ProcessRecord } from './state.ts';
export { fetchPage, isServing, pollServingPods, pollUrl } from './poller.ts';
export type { PollFrom, PollOptions, PollResult } from './poller.ts';
