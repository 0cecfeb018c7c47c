// resolv-conf.ts: the node's upstream resolvers, read from its resolv.conf (resolv.conf(5)).
//
// Only `nameserver` lines count; comments start with "#" or ";". IPv4 addresses only (others
// are skipped), each once, in file order. The caller excludes the cluster DNS address itself:
// a node whose resolv.conf points at the cluster DNS server would otherwise forward to itself.
import { isIPv4 } from 'node:net';

/** upstreamsFromResolvConf lists the IPv4 nameservers of a resolv.conf text, in order, without
 *  repeats and without the addresses in exclude. */
export function upstreamsFromResolvConf(text: string, exclude: readonly string[]): string[] {
  const excluded = new Set(exclude);
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, address] = line.split(/\s+/);
    if (keyword !== 'nameserver' || address === undefined || !isIPv4(address)) continue;
    if (excluded.has(address) || out.includes(address)) continue;
    out.push(address);
  }
  return out;
}
