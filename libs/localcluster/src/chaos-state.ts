// chaos-state.ts: what every `tug chaos` action shares: finding the node, recording the
// faults active now in the cluster's state file, and the chaos log (BASE/chaos.log, one JSON
// line per action with its time).
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterPlan, NodePlan } from './plan.ts';
import { readState, writeState } from './state.ts';
import type { ClusterState } from './state.ts';

/** nodeOf finds a node of the plan; throws naming the cluster's nodes when there is no such node. */
export function nodeOf(plan: ClusterPlan, node: string): NodePlan {
  const n = plan.nodes.find((x) => x.name === node);
  if (n === undefined) throw new Error(`local cluster ${plan.name} has no node ${node} (its nodes: ${plan.nodes.map((x) => x.name).join(', ')})`);
  return n;
}

/** updateState rewrites the state file with `change` applied (nothing when there is none). */
export function updateState(stateFile: string, change: (s: ClusterState) => ClusterState): void {
  const state = readState(stateFile);
  if (state !== undefined) writeState(stateFile, change(state));
}

/** chaosLogFile is where a cluster's chaos actions are written. */
export function chaosLogFile(plan: Pick<ClusterPlan, 'baseDir'>): string {
  return join(plan.baseDir, 'chaos.log');
}

/** logChaos appends one action to the cluster's chaos log, with the time. */
export function logChaos(plan: ClusterPlan, action: string, node: string, detail: string): void {
  appendFileSync(chaosLogFile(plan), `${JSON.stringify({ time: new Date().toISOString(), action, node, detail })}\n`);
}

