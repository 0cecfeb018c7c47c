// iptables.ts: reading `iptables-save` output (pure): the rules carrying a comment, as
// arguments that delete them, those matching frames from given bridge ports, and whether the
// FORWARD chain may drop bridged traffic.
import type { IptablesRule } from './state.ts';

/** splitRule splits an iptables-save rule line into words, honouring double quotes. */
export function splitRule(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) cur += line[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** rulesWithComment returns every rule of the dump whose comment is exactly `comment`. */
export function rulesWithComment(save: string, comment: string): IptablesRule[] {
  const out: IptablesRule[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (!line.startsWith('-A ')) continue;
    const words = splitRule(line);
    const at = words.indexOf('--comment');
    if (at < 0 || words[at + 1] !== comment) continue;
    out.push({ table, chain: words[1]!, spec: words.slice(2) });
  }
  return out;
}

/** rulesFromPorts keeps the rules that match frames from a bridge port (`--physdev-in PORT`)
 *  whose name starts with prefix, such as the veths of one cluster (`tv-NAME-`). */
export function rulesFromPorts(rules: readonly IptablesRule[], prefix: string): IptablesRule[] {
  return rules.filter((r) => r.spec.some((w, i) => r.spec[i - 1] === '--physdev-in' && w.startsWith(prefix)));
}

/** forwardMayBlock says whether the filter table's FORWARD chain could drop a bridged packet
 *  (br_netfilter sends bridged packets through it): its policy is not ACCEPT, or a rule
 *  jumps anywhere but ACCEPT (DROP, REJECT, or a chain of another program's). */
export function forwardMayBlock(save: string): boolean {
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (table !== 'filter') continue;
    if (line.startsWith(':FORWARD ') && line.split(' ')[1] !== 'ACCEPT') return true;
    if (line.startsWith('-A FORWARD ')) {
      const words = splitRule(line);
      const j = words.indexOf('-j');
      if (j >= 0 && words[j + 1] !== 'ACCEPT') return true;
    }
  }
  return false;
}

/** bridgeAcceptRule lets traffic between the cluster's nodes through the root netns's FORWARD. */
export function bridgeAcceptRule(bridge: string, comment: string): IptablesRule {
  return { table: 'filter', chain: 'FORWARD', spec: ['-i', bridge, '-o', bridge, '-m', 'comment', '--comment', comment, '-j', 'ACCEPT'] };
}
