/**
 * Housekeeping keeps the control plane's own objects in order, one round at a time, every
 * `periodMs` and soon after every leadership change (soon()):
 *
 * - the leader creates the initial objects (the `default` and `tug-node-lease` Namespaces) when missing, keeps its
 *   own directory record (where it serves the API), drops the records of members that left,
 *   and releases the service allocations no Service holds any more (after a Namespace
 *   deletion; at most 100 per round, each guarded by its resourceVersion), and deletes the
 *   bootstrap tokens that expired more than an hour ago;
 * - a follower whose record is missing or stale asks the leader to write it.
 *
 * Nothing happens while no leader is known. A failed round is logged (the first failure and
 * every 20th) and followed by a back-off before the next round may start; every write is
 * compare-and-swap or create, so a round racing another writer only loses its turn.
 */
import type { Logger } from 'pino';
import { initialObjects } from '@tugboat/api';
import type { Service } from '@tugboat/api';
import { ALLOCATION_KIND, orphanedAllocations } from '@tugboat/apiserver';
import type { MemberRecord, ReplicatedTokens } from '@tugboat/apiserver';
import type { Role } from '@tugboat/raft';
import { isRaftStoppedError } from '@tugboat/raft';
import { isStoreError } from '@tugboat/store';
import type { ObjectStore, Op } from '@tugboat/store';
import type { LeaderState } from './leadership.ts';
import type { MemberDirectory } from './member-directory.ts';

export interface HousekeepingOptions {
  /** self is this member's directory record. */
  readonly self: MemberRecord;
  readonly raft: { status(): { readonly role: Role; readonly leader: string; readonly membership: { readonly voters: readonly string[] } } };
  readonly leadership: Pick<LeaderState, 'closing'>;
  readonly store: Pick<ObjectStore, 'get' | 'list'>;
  readonly directory: Pick<MemberDirectory, 'apiAddressOf' | 'holds' | 'names' | 'record' | 'forget'>;
  readonly tokens: Pick<ReplicatedTokens, 'sweep'>;
  /** write proposes housekeeping's own writes (RaftWrites.writeInternal); throws StoreError. */
  readonly write: (ops: readonly Op[]) => Promise<void>;
  /** askToRecord asks the leader, at `api`, to record `self` (Forwarding.askToRecord). */
  readonly askToRecord: (api: string, self: MemberRecord) => Promise<void>;
  readonly log: Logger;
  /** Period of the rounds, ms. */
  readonly periodMs: number;
}

/** releasedPerRoundMax bounds the allocations released in one round (one Raft command). */
const releasedPerRoundMax = 100;

export class Housekeeping {
  private readonly opts: HousekeepingOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private failures = 0;

  constructor(opts: HousekeepingOptions) {
    this.opts = opts;
  }

  /** start runs a round now and every `periodMs` until stop(). */
  start(): void {
    this.timer = setInterval(() => void this.round(), this.opts.periodMs);
    this.timer.unref();
    void this.round();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** soon runs a round once the caller has returned (it may be inside the Raft loop). */
  soon(): void {
    setImmediate(() => void this.round());
  }

  /** round runs one round of the duties in the module comment; a round under way makes it a no-op. */
  async round(): Promise<void> {
    const { self, directory, log } = this.opts;
    if (this.running || this.opts.leadership.closing) return;
    this.running = true;
    try {
      const st = this.opts.raft.status();
      if (st.leader === '') return;
      const recordOk = directory.holds(self);
      if (st.role === 'leader') {
        if (!recordOk) await directory.record(self);
        await this.createInitialObjects();
        const voters = new Set(st.membership.voters);
        for (const name of directory.names()) {
          if (!voters.has(name)) await directory.forget(name);
        }
        await this.releaseOrphanedAllocations();
        await this.sweepTokens();
      } else if (!recordOk && st.membership.voters.includes(self.name)) {
        const api = directory.apiAddressOf(st.leader);
        if (api === '') return;
        await this.opts.askToRecord(api, self);
        log.info({ leader: st.leader }, 'member directory: asked the leader to record this member');
      }
      this.failures = 0;
    } catch (err) {
      if (this.opts.leadership.closing || isRaftStoppedError(err)) return;
      this.failures++;
      if (this.failures === 1 || this.failures % 20 === 0) {
        log.warn({ err: err instanceof Error ? err.message : String(err), failures: this.failures }, 'housekeeping failed; retrying');
      }
      // Still `running`: the timer's rounds wait out the back-off too.
      await sleep(Math.min(2_000, 50 * 2 ** Math.min(this.failures, 6)));
    } finally {
      this.running = false;
    }
  }

  private async createInitialObjects(): Promise<void> {
    for (const o of initialObjects()) {
      if (this.opts.store.get({ kind: o.kind, name: o.metadata.name ?? '' }) !== undefined) continue;
      try {
        await this.opts.write([{ op: 'create', object: o }]);
        this.opts.log.info({ kind: o.kind, name: o.metadata.name }, 'created initial object');
      } catch (err) {
        if (!isStoreError(err, 'AlreadyExists')) throw err;
      }
    }
  }

  /** releaseOrphanedAllocations deletes the service allocations no Service holds. */
  private async releaseOrphanedAllocations(): Promise<void> {
    const { store } = this.opts;
    const service = (namespace: string, name: string): Service | undefined => store.get({ kind: 'Service', namespace, name }) as Service | undefined;
    const orphans = orphanedAllocations(store.list({ kind: ALLOCATION_KIND }).items, service).slice(0, releasedPerRoundMax);
    if (orphans.length === 0) return;
    try {
      await this.opts.write(orphans.map((a): Op => ({ op: 'delete', ref: { kind: ALLOCATION_KIND, name: a.metadata.name }, expectedResourceVersion: a.metadata.resourceVersion })));
      this.opts.log.info({ released: orphans.map((a) => a.metadata.name) }, 'released service allocations no Service holds');
    } catch (err) {
      // Another write got there first; the next round looks again.
      if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
    }
  }

  private async sweepTokens(): Promise<void> {
    try {
      const n = await this.opts.tokens.sweep(new Date());
      if (n > 0) this.opts.log.info({ deleted: n }, 'deleted bootstrap tokens expired an hour ago');
    } catch (err) {
      if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
