// link-netem.ts: delay and loss on what leaves one network namespace's eth0, and their undoing
// (the commands are network-faults.ts's). chaos-network.ts applies them to a node of a local
// cluster; test/integration/netdelay.test.ts to namespaces of its own.
//
// applyLinkNetem asks tc for a netem qdisc on the link's eth0; where the kernel has none it falls
// back on applyIptablesNetem, which acts at the host end of the link (network-faults.ts says why).
// There a delay first starts tug-netdelay and waits until it reads its NFQUEUE queue, and only
// then adds the rule that queues packets; loss adds the statistic-match rule above it. A failure
// partway undoes what was done. removeLinkNetem undoes either kind, and finds nothing to do
// harmless: rules gone already, a delayer that ended (it is signalled only while its PID still
// names the same process).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostError, run, tryRun } from './host.ts';
import {
  bridgeFilterCommand,
  checkNetemSpec,
  delayerCommand,
  NETDELAY_BIN,
  netemClearCommand,
  netemQdiscCommand,
  netemRuleCommands,
  netemRuleRemovals,
  NO_NETEM,
  queueReader,
} from './network-faults.ts';
import type { HostEnd, NetemFault, NetemSpec } from './network-faults.ts';
import { isRunning, spawnDetached, stopProcesses } from './procs.ts';
import type { ProcessId } from './procs.ts';

/** NetemLink is a veth link whose far end, eth0 in a namespace, gets a fault, and what its
 *  delayer needs. */
export interface NetemLink {
  /** The namespace of eth0 as nsenter --net takes it (/run/netns/NAME): tc's netem goes there. */
  readonly netnsPath: string;
  /** The other end of the link, a bridge port: without tc's netem, the rules and the delayer go there. */
  readonly hostEnd: HostEnd;
  /** The NFQUEUE queue of a delay, unique in the host end's namespace (a node's is netemQueueNum). */
  readonly queueNum: number;
  /** A directory named on the delayer's command line, so that the processes naming it include it. */
  readonly label: string;
  /** Where the delayer's output is appended. */
  readonly logFile: string;
}

/** LinkNetem is a netem fault as applied to a link: a NetemFault without its node. */
export type LinkNetem = Omit<NetemFault, 'node'>;

/** How long tug-netdelay gets to bind its queue, and to exit after SIGTERM before SIGKILL, ms. */
const DELAYER_START_MS = 5_000;
const DELAYER_STOP_MS = 2_000;

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join(' | ');
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
}

/** waitReading resolves once the delayer reads its queue; throws when it ended first or is late. */
async function waitReading(delayer: ProcessId, link: NetemLink): Promise<void> {
  const deadline = Date.now() + DELAYER_START_MS;
  for (;;) {
    if (!isRunning(delayer)) throw new HostError(`tug-netdelay ended as it started (${link.logFile}: ${lastLines(link.logFile, 3)})`);
    let queues = '';
    try {
      queues = readFileSync(`/proc/${delayer.pid}/net/netfilter/nfnetlink_queue`, 'utf8');
    } catch {
      // it ended meanwhile: the next round says so
    }
    // libnetfilter_queue's socket takes the process's PID as its netlink port id.
    if (queueReader(queues, link.queueNum) === delayer.pid) return;
    if (Date.now() > deadline) throw new HostError(`tug-netdelay (pid ${delayer.pid}) did not read NFQUEUE queue ${link.queueNum} within ${DELAYER_START_MS} ms (see ${link.logFile})`);
    await sleep(20);
  }
}

/** bridgeFiltered: iptables sees the frames the host end's bridge passes on. */
function bridgeFiltered(site: HostEnd): boolean {
  const cmd = bridgeFilterCommand(site);
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === '1';
}

/**
 * applyIptablesNetem adds `spec` to what leaves the link's eth0 without tc's netem, acting on
 * what arrives from it at the host end: loss by iptables' statistic match, delay by tug-netdelay
 * (NETDELAY_BIN) reading NFQUEUE queue link.queueNum. Throws a HostError, after undoing what it
 * did, when iptables does not see bridged frames there, a command fails, or the delayer is
 * missing or does not start.
 */
export async function applyIptablesNetem(link: NetemLink, spec: NetemSpec): Promise<LinkNetem> {
  checkNetemSpec(spec);
  const site = link.hostEnd;
  if (!bridgeFiltered(site)) {
    throw new HostError(
      `this kernel has no netem qdisc, and the loss and delay that replace it act on the bridge port ${site.port}, where iptables sees nothing: bridged frames pass iptables only with br_netfilter (modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1)`,
    );
  }
  if (spec.delayMs > 0 && !existsSync(NETDELAY_BIN)) {
    throw new HostError(`this kernel has no netem qdisc, and ${NETDELAY_BIN}, which delays packets without it, is missing: run deploy/setup.sh as root (it compiles tools/netdelay/netdelay.c)`);
  }
  let delayer: ProcessId | undefined;
  try {
    if (spec.delayMs > 0) {
      delayer = spawnDetached(delayerCommand(site, spec, link.queueNum, link.label), link.logFile);
      await waitReading(delayer, link);
    }
    for (const cmd of netemRuleCommands(site, spec, link.queueNum)) run(cmd);
  } catch (err) {
    for (const cmd of netemRuleRemovals(site, spec, link.queueNum)) tryRun(cmd);
    if (delayer !== undefined) await stopProcesses([delayer], DELAYER_STOP_MS);
    throw err;
  }
  return { ...spec, via: 'iptables', ...(delayer === undefined ? {} : { delayer: { pid: delayer.pid, startTicks: delayer.startTicks } }) };
}

/**
 * applyLinkNetem adds `spec` to what leaves the link's eth0, replacing any netem qdisc: with tc's
 * netem, or where the kernel has none with applyIptablesNetem. Throws a HostError naming what
 * failed.
 */
export async function applyLinkNetem(link: NetemLink, spec: NetemSpec): Promise<LinkNetem> {
  checkNetemSpec(spec);
  const qdisc = netemQdiscCommand(link, spec);
  const tc = spawnSync(qdisc[0]!, qdisc.slice(1), { encoding: 'utf8' });
  if (tc.status === 0) return { ...spec, via: 'tc' };
  const why = `${tc.stderr ?? ''}${tc.error?.message ?? ''}`.trim();
  if (!NO_NETEM.test(why)) throw new HostError(`${qdisc.join(' ')}: ${why}`);
  return applyIptablesNetem(link, spec);
}

/**
 * removeLinkNetem undoes what applyLinkNetem or applyIptablesNetem did: the qdisc, or the rules
 * and then the delayer (SIGTERM, which gives every packet it holds its verdict at once; SIGKILL
 * after 2 s). What is gone already is skipped.
 */
export async function removeLinkNetem(link: Pick<NetemLink, 'netnsPath' | 'hostEnd' | 'queueNum'>, f: LinkNetem): Promise<void> {
  if (f.via === 'tc') {
    tryRun(netemClearCommand(link));
    return;
  }
  for (const cmd of netemRuleRemovals(link.hostEnd, f, link.queueNum)) tryRun(cmd);
  if (f.delayer !== undefined) await stopProcesses([f.delayer], DELAYER_STOP_MS);
}
