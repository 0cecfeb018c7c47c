// existing.ts: a running local cluster, read back from its state file: its plan, and loading
// an image tarball into every node's containerd.
import { existsSync } from 'node:fs';
import { importImages } from './images.ts';
import { clusterNames, DEFAULT_STATE_ROOT, planCluster } from './plan.ts';
import type { ClusterPlan } from './plan.ts';
import { readState } from './state.ts';

/** NoClusterError: there is no local cluster of that name. */
export class NoClusterError extends Error {
  override readonly name = 'NoClusterError';
}

/** existingPlan returns the plan of the running cluster `name`, from its state file. */
export function existingPlan(name: string, stateRoot: string = DEFAULT_STATE_ROOT): ClusterPlan {
  const names = clusterNames(name, stateRoot);
  const state = readState(names.stateFile);
  if (state === undefined) throw new NoClusterError(`there is no local cluster named ${name} (no ${names.stateFile}); start one with \`tug cluster up --name ${name}\``);
  return planCluster({ name, nodes: state.nodes, control: state.control, subnet: state.subnet, stateRoot });
}

/** loadImage imports an OCI or Docker image tarball into every node's containerd (in parallel); returns the node names. */
export async function loadImage(tar: string, name: string, stateRoot: string = DEFAULT_STATE_ROOT): Promise<string[]> {
  if (!existsSync(tar)) throw new Error(`image tarball ${tar} does not exist`);
  const plan = existingPlan(name, stateRoot);
  await importImages(plan.nodes.map((n) => n.paths.containerdSocket), [tar]);
  return plan.nodes.map((n) => n.name);
}
