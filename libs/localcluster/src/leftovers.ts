// leftovers.ts: everything of a local cluster still on the host, found by name (no state
// file needed). Empty after `down`; `up` refuses to start while it is not.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirs, cgroupPids, iptablesRulesWithComment, linkNames, mountsUnder, netnsNames } from './host.ts';
import { rulesFromPorts } from './iptables.ts';
import { NETEM_COMMENT } from './network-faults.ts';
import { clusterNames, DEFAULT_STATE_ROOT } from './plan.ts';
import type { ClusterNames } from './plan.ts';
import { processesNaming } from './procs.ts';
import type { IptablesRule } from './state.ts';

/** CNI_CACHE_DIR is where libcni (in containerd) caches each attachment's result. */
export const CNI_CACHE_DIR = '/var/lib/cni/results';

/** cniCacheNames says whether a libcni cache entry belongs to the cluster: its netns path or
 *  its network config (base64, with host-local's data dir) names the base dir. */
export function cniCacheNames(text: string, baseDir: string): boolean {
  const under = `${baseDir}/`;
  if (text.includes(under)) return true;
  try {
    const config = (JSON.parse(text) as { config?: unknown }).config;
    return typeof config === 'string' && Buffer.from(config, 'base64').toString('utf8').includes(under);
  } catch {
    return false;
  }
}

/** sandboxIds lists the pod sandbox ids containerd keeps under the cluster's base dir. */
function sandboxIds(baseDir: string): Set<string> {
  const ids = new Set<string>();
  let nodes: string[] = [];
  try {
    nodes = readdirSync(baseDir);
  } catch {
    return ids;
  }
  for (const n of nodes) {
    for (const kind of ['root', 'state']) {
      try {
        for (const id of readdirSync(join(baseDir, n, 'containerd', kind, 'io.containerd.grpc.v1.cri', 'sandboxes'))) ids.add(id);
      } catch {
        // not a node dir, or no sandboxes
      }
    }
  }
  return ids;
}

/** cniCacheFiles lists the libcni cache files of the cluster: those naming the base dir, and
 *  every file of the same sandboxes or of sandboxes containerd keeps under the base dir (the
 *  loopback attachment's entry names neither). */
export function cniCacheFiles(baseDir: string): string[] {
  let files: string[];
  try {
    files = readdirSync(CNI_CACHE_DIR).map((n) => join(CNI_CACHE_DIR, n));
  } catch {
    return [];
  }
  const entries = files.flatMap((f) => {
    try {
      const text = readFileSync(f, 'utf8');
      const id = (JSON.parse(text) as { containerId?: unknown }).containerId;
      return [{ f, text, id: typeof id === 'string' ? id : '' }];
    } catch {
      return [];
    }
  });
  const ids = sandboxIds(baseDir);
  for (const e of entries) if (e.id !== '' && cniCacheNames(e.text, baseDir)) ids.add(e.id);
  return entries.filter((e) => ids.has(e.id) || cniCacheNames(e.text, baseDir)).map((e) => e.f).sort();
}

/** netemRulesOf lists the rules of `tug chaos netem` without tc's netem on the cluster's veths,
 *  in the host's namespace (network-faults.ts). */
export function netemRulesOf(names: ClusterNames): IptablesRule[] {
  return rulesFromPorts(iptablesRulesWithComment(NETEM_COMMENT), names.vethPrefix);
}

/** leftoversOf lists what of the cluster is on the host, one line per thing. */
export function leftoversOf(names: ClusterNames): string[] {
  const out: string[] = [];
  out.push(...netnsNames(names.netnsPrefix).map((n) => `network namespace ${n}`));
  out.push(...linkNames(names.bridge, names.vethPrefix).map((n) => `link ${n}`));
  out.push(...processesNaming(names.baseDir).map((p) => `process ${p.pid}: ${p.argv.join(' ').slice(0, 160)}`));
  const cgroups = cgroupDirs(names.cgroupDir);
  out.push(...cgroupPids(cgroups).map((pid) => `process ${pid} in cgroup ${names.cgroupDir}`));
  out.push(...cgroups.map((d) => `cgroup ${d}`));
  out.push(...mountsUnder(names.baseDir).map((m) => `mount ${m}`));
  out.push(...[...iptablesRulesWithComment(names.iptablesComment), ...netemRulesOf(names)].map((r) => `iptables -t ${r.table} -A ${r.chain} ${r.spec.join(' ')}`));
  out.push(...cniCacheFiles(names.baseDir).map((f) => `CNI cache ${f}`));
  if (existsSync(names.baseDir)) out.push(`directory ${names.baseDir}`);
  return out;
}

/** leftovers lists what of local cluster `name` is on the host (empty: nothing). */
export function leftovers(name: string, stateRoot: string = DEFAULT_STATE_ROOT): string[] {
  return leftoversOf(clusterNames(name, stateRoot));
}
