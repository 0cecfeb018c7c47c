import type { ConfChange, Membership, NodeId } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** encodeConfChange turns a ConfChange into a conf entry's data (UTF-8 JSON). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: cc.type, nodeId: cc.nodeId, context: cc.context }));
}

/** decodeConfChange parses a conf entry's data; it throws a message naming the fault on bad input. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new Error(`conf change: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new Error('conf change: expected an object');
  const o = v as Record<string, unknown>;
  if (o['type'] !== 'add' && o['type'] !== 'remove') throw new Error(`conf change: type must be "add" or "remove", got ${JSON.stringify(o['type'])}`);
  if (typeof o['nodeId'] !== 'string' || o['nodeId'] === '') throw new Error('conf change: nodeId must be a non-empty string');
  if (typeof o['context'] !== 'string') throw new Error('conf change: context must be a string');
  return { type: o['type'], nodeId: o['nodeId'], context: o['context'] };
}

/** applyConfChange returns the membership after `cc`; adding a member or removing an absent one is a no-op. */
export function applyConfChange(m: Membership, cc: ConfChange): Membership {
  if (cc.type === 'add') {
    if (m.voters.includes(cc.nodeId)) return m;
    return { voters: [...m.voters, cc.nodeId].sort(), contexts: { ...m.contexts, [cc.nodeId]: cc.context } };
  }
  if (!m.voters.includes(cc.nodeId)) return m;
  const contexts: Record<NodeId, string> = { ...m.contexts };
  delete contexts[cc.nodeId];
  return { voters: m.voters.filter((v) => v !== cc.nodeId), contexts };
}

/** quorum is the number of votes that make a majority of `n` voters. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}
