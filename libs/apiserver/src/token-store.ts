/**
 * The bootstrap tokens as a member keeps them: objects of the internal kind BootstrapToken
 * (bootstrap-tokens.ts) in the replicated store. Reads are of local state; writes are the
 * leader's, through Raft. The leader's housekeeping deletes tokens an hour after they expired
 * (until then `tug token list` shows them as expired).
 */
import { isStoreError } from '@tugboat/store';
import type { ObjectStore, Op } from '@tugboat/store';
import { TOKEN_KIND, tokenObject, tokenRecord } from './bootstrap-tokens.ts';
import type { StoredToken, TokenRecord } from './bootstrap-tokens.ts';
import type { TokenStore } from './join.ts';

/** expiredKeepMs: how long an expired token stays listed before housekeeping deletes it. */
const expiredKeepMs = 3_600_000;

export class ReplicatedTokens implements TokenStore {
  private readonly store: Pick<ObjectStore, 'get' | 'list'>;
  private readonly write: (ops: readonly Op[]) => Promise<void>;

  constructor(store: Pick<ObjectStore, 'get' | 'list'>, write: (ops: readonly Op[]) => Promise<void>) {
    this.store = store;
    this.write = write;
  }

  get(id: string): StoredToken | undefined {
    const o = this.store.get({ kind: TOKEN_KIND, name: id });
    return o === undefined ? undefined : tokenRecord(o);
  }

  list(): StoredToken[] {
    return this.store.list({ kind: TOKEN_KIND }).items.map(tokenRecord);
  }

  create(r: TokenRecord): Promise<void> {
    return this.write([{ op: 'create', object: tokenObject(r) }]);
  }

  countUse(r: StoredToken): Promise<void> {
    const { resourceVersion, ...record } = r;
    return this.write([{ op: 'update', object: tokenObject({ ...record, used: r.used + 1 }), expectedResourceVersion: resourceVersion }]);
  }

  async delete(id: string): Promise<boolean> {
    try {
      await this.write([{ op: 'delete', ref: { kind: TOKEN_KIND, name: id } }]);
      return true;
    } catch (err) {
      if (isStoreError(err, 'NotFound')) return false;
      throw err;
    }
  }

  /** sweep deletes the tokens that expired more than an hour before `now` (leader only). */
  async sweep(now: Date): Promise<number> {
    const old = this.list().filter((t) => now.getTime() - Date.parse(t.expires) > expiredKeepMs);
    if (old.length === 0) return 0;
    await this.write(old.map((t) => ({ op: 'delete', ref: { kind: TOKEN_KIND, name: t.id }, expectedResourceVersion: t.resourceVersion })));
    return old.length;
  }
}
