// sources.ts: where the agent reads usage from. The machine: /proc/stat (CPU time of all
// cores) and /proc/meminfo (memory in use). The containers: the runtime's CRI stats of the
// running containers tug-agent made, matched to pods by the labels it put on them.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { cri } from '@tugboat/proto';
import type { CriClient } from '@tugboat/cri';
import { CONTAINER_NAME_LABEL, MANAGED_LABEL, POD_NAMESPACE_LABEL, POD_NAME_LABEL, POD_UID_LABEL } from '@tugboat/cri';
import type { ContainerReading, NodeReading, UsageSources } from './sampler.ts';

/** USER_HZ is the unit of /proc/stat's counters (ticks per second; 100 on Linux). */
const USER_HZ = 100;
const NS_PER_TICK = 1_000_000_000n / BigInt(USER_HZ);

/** parseProcStat reads the CPU time used by the machine, in nanoseconds, from /proc/stat:
 *  user, nice, system, irq, softirq and steal of the "cpu" line (guest time is inside user);
 *  idle and iowait are not use. Throws when there is no such line. */
export function parseProcStat(text: string): bigint {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (line === undefined) throw new Error('/proc/stat has no "cpu" line');
  const f = line.trim().split(/\s+/).slice(1).map((x) => BigInt(x));
  const [user = 0n, nice = 0n, system = 0n, , , irq = 0n, softirq = 0n, steal = 0n] = f;
  return (user + nice + system + irq + softirq + steal) * NS_PER_TICK;
}

/** parseMeminfo reads the memory in use, MemTotal less MemAvailable, in bytes from
 *  /proc/meminfo. Throws when either line is missing. */
export function parseMeminfo(text: string): number {
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m === null) throw new Error(`/proc/meminfo has no ${name} line`);
    return Number(m[1]) * 1024;
  };
  return kb('MemTotal') - kb('MemAvailable');
}

/** wallClockNs is the time since the epoch in nanoseconds (sub-millisecond precision). */
export function wallClockNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000_000));
}

/** readProcNode reads the machine's CPU time and memory in use. */
export async function readProcNode(procDir = '/proc'): Promise<NodeReading> {
  const [stat, meminfo] = await Promise.all([readFile(`${procDir}/stat`, 'utf8'), readFile(`${procDir}/meminfo`, 'utf8')]);
  return { cpu: { atNs: wallClockNs(), usedNs: parseProcStat(stat) }, memoryUsedBytes: parseMeminfo(meminfo) };
}

/** ContainerStatsRuntime is the part of CriClient the container readings need. */
export type ContainerStatsRuntime = Pick<CriClient, 'listContainerStats' | 'listContainers'>;

/**
 * readContainers reads the running containers tug-agent made (of pods of `namespace`, or of
 * all namespaces for ""). Runtimes may also report containers that have exited; only those
 * ListContainers calls running are kept.
 */
export async function readContainers(runtime: ContainerStatsRuntime, namespace: string): Promise<ContainerReading[]> {
  const labelSelector: Record<string, string> = { [MANAGED_LABEL]: 'true' };
  if (namespace !== '') labelSelector[POD_NAMESPACE_LABEL] = namespace;
  const [stats, running] = await Promise.all([
    runtime.listContainerStats({ labelSelector }),
    runtime.listContainers({ labelSelector, state: { state: cri.ContainerState.CONTAINER_RUNNING } }),
  ]);
  const runningIds = new Set(running.map((c) => c.id));
  const out: ContainerReading[] = [];
  for (const s of stats) {
    const a = s.attributes;
    if (a === undefined || !runningIds.has(a.id)) continue;
    const labels = a.labels;
    const used = s.cpu?.usageCoreNanoSeconds;
    out.push({
      id: a.id,
      namespace: labels[POD_NAMESPACE_LABEL] ?? '',
      pod: labels[POD_NAME_LABEL] ?? '',
      podUid: labels[POD_UID_LABEL] ?? '',
      container: labels[CONTAINER_NAME_LABEL] ?? a.metadata?.name ?? '',
      cpu: used === undefined ? undefined : { atNs: s.cpu?.timestamp || wallClockNs(), usedNs: used.value },
      memoryWorkingSetBytes: Number(s.memory?.workingSetBytes?.value ?? 0n),
    });
  }
  return out;
}

/** agentUsageSources reads the machine from /proc and the containers from the runtime. */
export function agentUsageSources(runtime: ContainerStatsRuntime): UsageSources {
  return {
    node: () => readProcNode(),
    containers: (namespace) => readContainers(runtime, namespace),
    nowNs: wallClockNs,
    sleep: (ms) => sleep(ms),
  };
}
