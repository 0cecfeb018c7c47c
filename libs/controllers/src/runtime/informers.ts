// informers.ts: the watch caches the controllers of one leadership term share: one informer per
// kind (every namespace), started on first use, all stopped together when the term ends.
import type { Kind, ObjectOfKind } from '@tugboat/api';
import type { Informer, TugClient } from '@tugboat/client';
import type { Logger } from 'pino';

export class SharedInformers {
  readonly #client: TugClient;
  readonly #log: Logger;
  readonly #informers = new Map<Kind, Informer<never>>();
  #stopped = false;

  constructor(client: TugClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  /** informer returns the shared informer of kind (started). */
  informer<K extends Kind>(kind: K): Informer<ObjectOfKind<K>> {
    let inf = this.#informers.get(kind) as Informer<ObjectOfKind<K>> | undefined;
    if (inf === undefined) {
      if (this.#stopped) throw new Error(`informer ${kind}: the shared informers are stopped`);
      inf = this.#client.resource(kind).informer({
        onError: (err) => this.#log.warn({ kind, err: (err as Error).message }, 'watch interrupted; relisting'),
      }) as unknown as Informer<ObjectOfKind<K>>;
      this.#informers.set(kind, inf as unknown as Informer<never>);
      inf.start();
    }
    return inf;
  }

  /** waitForSync resolves once every informer of these kinds has its first list. */
  async waitForSync(...kinds: Kind[]): Promise<void> {
    await Promise.all(kinds.map((k) => this.informer(k).waitForSync()));
  }

  /** stop ends every informer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    this.#informers.clear();
  }
}
