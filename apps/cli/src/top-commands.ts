// top-commands.ts: `tug top nodes` and `tug top pods`: what nodes and pods use now, asked of
// every node's tug-agent (its Stats call, proto/tug/v1/agent.proto) in parallel. CPU is a rate
// the agent measures between two readings (an agent asked for the first time takes about a
// second); memory is the working set of containers, and for a node the memory in use on its
// machine.
import type { Command } from 'commander';
import { cpuMillis, memoryBytes } from '@tugboat/api';
import type { Node } from '@tugboat/api';
import type { Security, StatsResponse } from '@tugboat/proto';
import { agentAddress, agentError, connectAgent } from './agent-client.ts';
import { CliError, UsageError, formatError } from './errors.ts';
import type { Session } from './session.ts';
import { Table } from './table.ts';

/** STATS_CALL_MS bounds each agent's answer (its first answer takes about a second). */
const STATS_CALL_MS = 10_000;
const UNKNOWN = '<unknown>';
const MI = 1024 * 1024;

/** formatCpu writes nanocores as kubectl does: millicores, "250m". */
export function formatCpu(nanoCores: number | undefined): string {
  return nanoCores === undefined ? UNKNOWN : `${Math.round(nanoCores / 1_000_000)}m`;
}

/** formatMemory writes bytes as kubectl does: whole mebibytes, "64Mi". */
export function formatMemory(bytes: number): string {
  return `${Math.floor(bytes / MI)}Mi`;
}

/** percent is part of whole as a whole percentage ("<unknown>" when either is missing). */
export function percent(part: number | undefined, whole: number | undefined): string {
  if (part === undefined || whole === undefined || whole <= 0) return UNKNOWN;
  return `${Math.floor((part * 100) / whole)}%`;
}

/** NodeAnswer is one node's Stats answer, or why there is none. */
interface NodeAnswer {
  readonly node: Node;
  readonly stats: StatsResponse | undefined;
  readonly error: string | undefined;
}

/** askAgents calls Stats on the agent of every node at once; a node whose agent cannot be
 *  asked or does not answer gets its error instead. */
async function askAgents(nodes: readonly Node[], namespace: string, security: Security, signal: AbortSignal | undefined): Promise<NodeAnswer[]> {
  return Promise.all(
    nodes.map(async (node): Promise<NodeAnswer> => {
      const name = node.metadata.name ?? '';
      let address: string;
      try {
        address = agentAddress(node);
      } catch (err) {
        return { node, stats: undefined, error: (err as Error).message };
      }
      const agent = connectAgent(address, security);
      try {
        return { node, stats: await agent.stats({ namespace }, { timeoutMs: STATS_CALL_MS, signal }), error: undefined };
      } catch (err) {
        return { node, stats: undefined, error: formatError(agentError(err, name, address)).replace(/^error: /, '') };
      } finally {
        agent.close();
      }
    }),
  );
}

/** warnFailures names each node that gave no answer on stderr; a CliError when none did. */
function warnFailures(s: Session, answers: readonly NodeAnswer[]): void {
  for (const a of answers) if (a.error !== undefined) s.io.stderr.write(`warning: no usage from node ${a.node.metadata.name ?? ''}: ${a.error}\n`);
  if (answers.length > 0 && answers.every((a) => a.error !== undefined)) throw new CliError('no node reported its usage');
}

function table(headers: readonly string[], rows: string[][]): string {
  return new Table(
    headers.map((header) => ({ header, value: () => '' })),
    0,
  ).render(rows, true);
}

type SortBy = 'cpu' | 'memory' | undefined;

function sortByFlag(text: string | undefined, command: string): SortBy {
  if (text === undefined || text === 'cpu' || text === 'memory') return text;
  throw new UsageError(`--sort-by: ${JSON.stringify(text)} is not cpu or memory`, command);
}

/** sortRows orders by name, or by CPU or memory, largest first (unknown last). */
function sortRows<T extends { name: string; cpu: number | undefined; memory: number | undefined }>(rows: T[], by: SortBy): T[] {
  const key = (r: T) => (by === 'cpu' ? r.cpu : by === 'memory' ? r.memory : undefined) ?? -1;
  return rows.sort((a, b) => (by === undefined ? 0 : key(b) - key(a)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function topNodes(s: Session, name: string | undefined, opts: { sortBy?: string }): Promise<void> {
  s.output([], 'top nodes');
  const sortBy = sortByFlag(opts.sortBy, 'top nodes');
  const client = s.client();
  const nodes = name === undefined ? (await client.nodes.list()).items : [await client.nodes.get(name)];
  if (nodes.length === 0) {
    s.io.stderr.write('No resources found.\n');
    return;
  }
  const answers = await askAgents(nodes, '', s.security(), s.io.signal);
  warnFailures(s, answers);
  const rows = sortRows(
    answers.map((a) => {
      const alloc = a.node.status?.allocatable ?? {};
      const usage = a.stats?.node;
      return {
        name: a.node.metadata.name ?? '',
        cpu: usage?.cpuNanoCores === undefined ? undefined : Number(usage.cpuNanoCores),
        memory: usage === undefined ? undefined : Number(usage.memoryUsedBytes),
        cpuAllocatable: alloc['cpu'] === undefined ? undefined : cpuMillis(alloc['cpu']) * 1_000_000,
        memoryAllocatable: alloc['memory'] === undefined ? undefined : memoryBytes(alloc['memory']),
      };
    }),
    sortBy,
  );
  s.io.stdout.write(
    table(
      ['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%'],
      rows.map((r) => [
        r.name,
        formatCpu(r.cpu),
        percent(r.cpu, r.cpuAllocatable),
        r.memory === undefined ? UNKNOWN : formatMemory(r.memory),
        percent(r.memory, r.memoryAllocatable),
      ]),
    ),
  );
}

interface TopPodsOptions {
  allNamespaces?: boolean;
  containers?: boolean;
  sortBy?: string;
}

async function topPods(s: Session, name: string | undefined, opts: TopPodsOptions): Promise<void> {
  s.output([], 'top pods');
  const sortBy = sortByFlag(opts.sortBy, 'top pods');
  const ns = s.namespace();
  const all = opts.allNamespaces === true;
  if (all && ns.explicit) throw new UsageError('-n and -A cannot be used together', 'top pods');
  if (all && name !== undefined) throw new UsageError('-A lists every namespace: give no POD with it', 'top pods');
  const namespace = all ? '' : ns.namespace;
  const nodes = (await s.client().nodes.list()).items;
  const answers = await askAgents(nodes, namespace, s.security(), s.io.signal);
  warnFailures(s, answers);
  const sum = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, x) => a + (x ?? 0), 0));
  const pods = answers
    .flatMap((a) => a.stats?.pods ?? [])
    .filter((p) => name === undefined || p.name === name)
    .map((p) => {
      const containers = p.containers.map((c) => ({
        name: c.name,
        cpu: c.cpuNanoCores === undefined ? undefined : Number(c.cpuNanoCores),
        memory: Number(c.memoryWorkingSetBytes),
      }));
      return { namespace: p.namespace, name: p.name, containers, cpu: sum(containers.map((c) => c.cpu)), memory: sum(containers.map((c) => c.memory)) };
    });
  if (pods.length === 0) {
    if (name !== undefined) throw new CliError(`no usage for pod ${namespace}/${name}: no node reports it running`);
    s.io.stderr.write(all ? 'No resources found.\n' : `No resources found in ${namespace} namespace.\n`);
    return;
  }
  const sorted = sortRows(pods, sortBy);
  // By name, pods of one namespace stay together (the sort is stable).
  if (all && sortBy === undefined) sorted.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  const headers = [...(all ? ['NAMESPACE'] : []), ...(opts.containers === true ? ['POD', 'NAME'] : ['NAME']), 'CPU(cores)', 'MEMORY(bytes)'];
  const rows = sorted.flatMap((p) => {
    const lead = all ? [p.namespace] : [];
    if (opts.containers !== true) return [[...lead, p.name, formatCpu(p.cpu), p.memory === undefined ? UNKNOWN : formatMemory(p.memory)]];
    return p.containers.map((c) => [...lead, p.name, c.name, formatCpu(c.cpu), formatMemory(c.memory)]);
  });
  s.io.stdout.write(table(headers, rows));
}

const USAGE_NOTE = `
CPU(cores) is in millicores (1000m = one core): the CPU time used per second, measured by each
node's tug-agent between two readings (the first time an agent is asked it takes two readings
a second apart, so the command takes about a second). MEMORY(bytes) is in mebibytes (Mi).`;

/** addTopCommands registers `top nodes` and `top pods` on program. */
export function addTopCommands(program: Command, s: Session): void {
  const top = program
    .command('top')
    .summary('show the CPU and memory that nodes and pods use')
    .description("Show the CPU and memory nodes and pods use now, as each node's tug-agent measures them.")
    .usage('COMMAND');
  top
    .command('nodes')
    .alias('node')
    .description(
      "Show each node's CPU and memory use, and what share of its allocatable CPU and memory that is. The figures are of the whole machine the node's agent runs on, read from its /proc/stat (busy CPU time) and /proc/meminfo (MemTotal less MemAvailable), so they include what runs outside pods; the nodes of a local cluster share one machine, so each shows that machine's use.",
    )
    .argument('[node]', 'one node (default: every node)')
    .option('--sort-by <field>', 'cpu or memory, largest first (default: by name)')
    .addHelpText('after', USAGE_NOTE)
    .action(async (name: string | undefined, opts: { sortBy?: string }, cmd: Command) => topNodes(s.use(cmd), name, opts));
  top
    .command('pods')
    .alias('pod')
    .description(
      "Show the CPU and memory the running pods use: the sum over their running containers, from the container runtime's statistics (memory: the working set). A node whose agent does not answer is named on stderr and its pods are left out.",
    )
    .argument('[pod]', 'one pod (default: every pod of the namespace)')
    .option('-A, --all-namespaces', 'pods of every namespace (adds a NAMESPACE column)')
    .option('--containers', 'one line per container')
    .option('--sort-by <field>', 'cpu or memory, largest first (default: by name)')
    .addHelpText('after', USAGE_NOTE)
    .action(async (name: string | undefined, opts: TopPodsOptions, cmd: Command) => topPods(s.use(cmd), name, opts));
}
