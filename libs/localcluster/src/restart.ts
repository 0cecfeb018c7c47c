// restart.ts: kill one process of a running local cluster (a node's containerd, tug-control or
// tug-agent) and start it again with the same command line: what the e2e suite does to show
// that an agent restart leaves its containers alone, and what chaos runs build on.
import { launchSpecs } from './commands.ts';
import type { Role } from './commands.ts';
import { existingPlan } from './existing.ts';
import { checkHost } from './host.ts';
import { DEFAULT_STATE_ROOT } from './plan.ts';
import { signal, spawnDetached, waitGone } from './procs.ts';
import { readState, writeState } from './state.ts';
import type { ProcessRecord } from './state.ts';
import { nodePrograms } from './programs.ts';

export interface RestartOptions {
  /** How to end the running process: SIGKILL (a crash, the default) or SIGTERM (graceful). */
  readonly signal?: 'SIGKILL' | 'SIGTERM';
  readonly stateRoot?: string;
}

/** killProcess ends `role` on `node` of cluster `name` (by its recorded PID) and waits until it
 *  is gone; returns the record of the process it ended. */
export async function killProcess(name: string, node: string, role: Role, opts: RestartOptions = {}): Promise<ProcessRecord> {
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const plan = existingPlan(name, stateRoot);
  const state = readState(plan.stateFile);
  const record = state?.processes.find((p) => p.node === node && p.role === role);
  if (record === undefined) throw new Error(`local cluster ${name} has no ${role} on node ${node}`);
  signal(record, opts.signal ?? 'SIGKILL');
  const left = await waitGone([record], 15_000);
  if (left.length > 0) throw new Error(`${role} on ${node} (pid ${record.pid}) did not end after ${opts.signal ?? 'SIGKILL'}`);
  return record;
}

/** startProcess starts `role` on `node` again (after killProcess) and records its new PID. */
export function startProcess(name: string, node: string, role: Role, opts: RestartOptions = {}): ProcessRecord {
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const plan = existingPlan(name, stateRoot);
  const { containerd } = checkHost();
  const spec = launchSpecs(plan, role, nodePrograms(plan.baseDir, containerd)).find((s) => s.node === node);
  if (spec === undefined) throw new Error(`local cluster ${name} has no node ${node} running ${role}`);
  const id = spawnDetached(spec.argv, spec.logFile);
  const record: ProcessRecord = { node, role, pid: id.pid, startTicks: id.startTicks, logFile: spec.logFile };
  const state = readState(plan.stateFile);
  if (state !== undefined) {
    writeState(plan.stateFile, { ...state, processes: [...state.processes.filter((p) => !(p.node === node && p.role === role)), record] });
  }
  return record;
}

/** restartProcess is killProcess then startProcess; returns the new process's record. */
export async function restartProcess(name: string, node: string, role: Role, opts: RestartOptions = {}): Promise<ProcessRecord> {
  await killProcess(name, node, role, opts);
  return startProcess(name, node, role, opts);
}
