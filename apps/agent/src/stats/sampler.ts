// sampler.ts: UsageSampler turns cumulative CPU counters (of the node and of each container)
// into CPU rates, honestly: a rate is the CPU time used between two readings divided by the
// time between them. It keeps the recent readings of each counter; a call that finds no
// reading at least MIN_WINDOW_MS old for some counter reads everything once more after
// FIRST_WINDOW_MS and measures over that gap. Memory figures are taken as read.

/** CpuCounter is a cumulative CPU time (all cores summed) at a moment, both in nanoseconds;
 *  atNs is wall-clock time since the epoch. */
export interface CpuCounter {
  readonly atNs: bigint;
  readonly usedNs: bigint;
}

/** NodeReading is one reading of the whole machine. */
export interface NodeReading {
  readonly cpu: CpuCounter;
  readonly memoryUsedBytes: number;
}

/** ContainerReading is one reading of one running container of a pod. */
export interface ContainerReading {
  /** id is the runtime's container id (a restarted container has a new one). */
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string;
  readonly container: string;
  /** cpu is undefined when the runtime gave no CPU figure. */
  readonly cpu: CpuCounter | undefined;
  readonly memoryWorkingSetBytes: number;
}

/** UsageSources are where the sampler reads from (the machine, the runtime) and how it waits. */
export interface UsageSources {
  node(): Promise<NodeReading>;
  /** containers reads the running containers of pods, of one namespace ("" for all). */
  containers(namespace: string): Promise<ContainerReading[]>;
  /** nowNs is the wall-clock time in nanoseconds since the epoch. */
  nowNs(): bigint;
  sleep(ms: number): Promise<void>;
}

/** ContainerUsage is what one container uses; cpuNanoCores is undefined when unknown. */
export interface ContainerUsage {
  name: string;
  cpuNanoCores: number | undefined;
  memoryWorkingSetBytes: number;
}

export interface PodUsage {
  namespace: string;
  name: string;
  uid: string;
  containers: ContainerUsage[];
}

/** UsageReport is the node's usage and its pods', pods sorted by namespace and name. */
export interface UsageReport {
  node: { cpuNanoCores: number | undefined; cpuWindowMs: number; memoryUsedBytes: number };
  pods: PodUsage[];
}

/** MIN_WINDOW_MS: a rate is measured over at least this long. */
export const MIN_WINDOW_MS = 500;
/** FIRST_WINDOW_MS: how long a call waits for a second reading when it has no earlier one. */
export const FIRST_WINDOW_MS = 1000;
/** MAX_WINDOW_MS: readings older than this are forgotten (a rate over minutes says little
 *  about now). */
export const MAX_WINDOW_MS = 120_000;
/** READINGS_KEPT per counter. */
const READINGS_KEPT = 4;

const NODE_KEY = '';
const MS = 1_000_000n;

/** cpuRate is the rate between two readings of one counter in nanocores, or undefined when
 *  they are too close together or the counter went backwards (it was reset). */
export function cpuRate(earlier: CpuCounter, later: CpuCounter): number | undefined {
  const dt = later.atNs - earlier.atNs;
  const used = later.usedNs - earlier.usedNs;
  if (dt < BigInt(MIN_WINDOW_MS) * MS || used < 0n) return undefined;
  return Math.round((Number(used) / Number(dt)) * 1e9);
}

/** UsageSampler measures usage; one per agent, shared by every Stats call. */
export class UsageSampler {
  readonly #sources: UsageSources;
  /** #readings: recent readings per counter (container id, or NODE_KEY), oldest first. */
  readonly #readings = new Map<string, CpuCounter[]>();

  constructor(sources: UsageSources) {
    this.#sources = sources;
  }

  /** sample reports the node and the pods of `namespace` ("" for all). */
  async sample(namespace: string): Promise<UsageReport> {
    let [node, containers] = await this.#read(namespace);
    const lacking = this.#base(NODE_KEY, node.cpu) === undefined || containers.some((c) => c.cpu !== undefined && this.#base(c.id, c.cpu) === undefined);
    if (lacking) {
      this.#remember(node, containers);
      await this.#sources.sleep(FIRST_WINDOW_MS);
      [node, containers] = await this.#read(namespace);
    }
    const nodeBase = this.#base(NODE_KEY, node.cpu);
    const report: UsageReport = {
      node: {
        cpuNanoCores: nodeBase === undefined ? undefined : cpuRate(nodeBase, node.cpu),
        cpuWindowMs: nodeBase === undefined ? 0 : Number((node.cpu.atNs - nodeBase.atNs) / MS),
        memoryUsedBytes: node.memoryUsedBytes,
      },
      pods: [],
    };
    const pods = new Map<string, PodUsage>();
    for (const c of containers) {
      const base = c.cpu === undefined ? undefined : this.#base(c.id, c.cpu);
      const key = `${c.namespace}/${c.pod}/${c.podUid}`;
      let pod = pods.get(key);
      if (pod === undefined) {
        pod = { namespace: c.namespace, name: c.pod, uid: c.podUid, containers: [] };
        pods.set(key, pod);
      }
      pod.containers.push({
        name: c.container,
        cpuNanoCores: base === undefined || c.cpu === undefined ? undefined : cpuRate(base, c.cpu),
        memoryWorkingSetBytes: c.memoryWorkingSetBytes,
      });
    }
    this.#remember(node, containers);
    report.pods = [...pods.values()].sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
    for (const p of report.pods) p.containers.sort((a, b) => compare(a.name, b.name));
    return report;
  }

  async #read(namespace: string): Promise<[NodeReading, ContainerReading[]]> {
    return Promise.all([this.#sources.node(), this.#sources.containers(namespace)]);
  }

  /** #base is the newest kept reading of a counter at least MIN_WINDOW_MS and at most
   *  MAX_WINDOW_MS before `now`. */
  #base(key: string, now: CpuCounter): CpuCounter | undefined {
    const kept = this.#readings.get(key) ?? [];
    for (let i = kept.length - 1; i >= 0; i--) {
      const r = kept[i]!;
      const gap = now.atNs - r.atNs;
      if (gap > BigInt(MAX_WINDOW_MS) * MS) return undefined;
      if (gap >= BigInt(MIN_WINDOW_MS) * MS && r.usedNs <= now.usedNs) return r;
    }
    return undefined;
  }

  /** #remember keeps the readings and forgets those past MAX_WINDOW_MS. */
  #remember(node: NodeReading, containers: readonly ContainerReading[]): void {
    const add = (key: string, c: CpuCounter) => {
      const kept = this.#readings.get(key) ?? [];
      kept.push(c);
      this.#readings.set(key, kept.slice(-READINGS_KEPT));
    };
    add(NODE_KEY, node.cpu);
    for (const c of containers) if (c.cpu !== undefined) add(c.id, c.cpu);
    const oldest = this.#sources.nowNs() - BigInt(MAX_WINDOW_MS) * MS;
    for (const [key, kept] of this.#readings) {
      const recent = kept.filter((r) => r.atNs >= oldest);
      if (recent.length === 0) this.#readings.delete(key);
      else this.#readings.set(key, recent);
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
