/**
 * A member's data dir: `member.json` (name, cluster id, and while joining the API address it
 * joins through) and `raft/` (the LevelDB Raft log). `member.json` is written before any Raft
 * state, so a data dir with Raft state always says whose it is.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** MemberFile is the content of DATA_DIR/member.json. */
export interface MemberFile {
  readonly name: string;
  readonly clusterId: string;
  /** Set while the member is joining: the API address it joins through. */
  readonly joining?: string;
}

/** clusterIdFor derives a new cluster's id from its founding members, the same on each of them. */
export function clusterIdFor(members: readonly { name: string; peerAddress: string }[]): string {
  const canon = members.map((m) => `${m.name}=${m.peerAddress}`).sort().join(',');
  return createHash('sha256').update(`tug-cluster:${canon}`).digest('hex').slice(0, 16);
}

/** readMemberFile reads DATA_DIR/member.json; undefined when there is none. Throws when it is damaged. */
export function readMemberFile(dir: string): MemberFile | undefined {
  let raw: string;
  try {
    raw = readFileSync(join(dir, 'member.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const f = JSON.parse(raw) as Partial<MemberFile>;
  if (typeof f.name !== 'string' || typeof f.clusterId !== 'string' || f.name === '' || f.clusterId === '') {
    throw new Error(`${join(dir, 'member.json')} is damaged (no name or cluster id)`);
  }
  return { name: f.name, clusterId: f.clusterId, ...(typeof f.joining === 'string' ? { joining: f.joining } : {}) };
}

/** writeMemberFile replaces member.json atomically and durably. */
export function writeMemberFile(dir: string, f: MemberFile): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, 'member.json.tmp');
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, join(dir, 'member.json'));
  const dfd = openSync(dir, 'r');
  fsyncSync(dfd);
  closeSync(dfd);
}
