// informer.ts: list + watch + a local cache of one kind, keyed by "namespace/name" ("name" for
// cluster-scoped kinds), for controllers.
//
// Handlers get keys only, never objects: a controller enqueues the key and later reads the
// object it needs from the cache (`get(key)`; undefined means deleted). The cache holds deeply
// frozen objects shared with every reader: copy one (structuredClone) before changing it.
//
// The informer consumes a resumable watch (watch.ts): the first RESYNC fills the cache and
// marks it synced; a later RESYNC (after the watch had to list again) replaces the cache,
// calling onAdd for new keys, onUpdate for keys whose resourceVersion changed and onDelete for
// keys that are gone. Changes call onAdd / onUpdate / onDelete. Handlers run synchronously, in
// event order; an exception from one goes to onError and changes nothing else.
import type { ObjectLike, Selection, WatchEvent, WatchOptions } from './types.ts';

/** InformerOptions choose what an informer follows. */
export interface InformerOptions extends Selection {
  /** kind names the kind in messages. */
  readonly kind?: string;
  /** onError is told of errors the watch recovers from and of handler exceptions. */
  readonly onError?: ((err: unknown) => void) | undefined;
  /** staleOk for the lists behind RESYNC events. Default false. */
  readonly staleOk?: boolean | undefined;
}

/** InformerHandler is told the key of every object that was added, updated or deleted. */
export interface InformerHandler {
  onAdd?(key: string): void;
  onUpdate?(key: string): void;
  onDelete?(key: string): void;
}

/** objectKey is an object's cache key: "namespace/name", or "name" without a namespace. */
export function objectKey(obj: { metadata: { namespace?: string | undefined; name?: string | undefined } }): string {
  const ns = obj.metadata.namespace ?? '';
  const name = obj.metadata.name ?? '';
  return ns === '' ? name : `${ns}/${name}`;
}

/** splitKey undoes objectKey. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

type WatchFn<T> = (opts: WatchOptions) => AsyncIterable<WatchEvent<T>>;

/** Informer keeps a cache of the objects a selection matches, up to date through a watch. */
export class Informer<T extends ObjectLike> {
  private readonly watchFn: WatchFn<T>;
  private readonly opts: InformerOptions;
  private readonly cache = new Map<string, T>();
  private readonly handlers = new Set<InformerHandler>();
  private readonly abort = new AbortController();
  private synced = false;
  private rev = 0;
  private loop: Promise<void> | undefined;
  private failure: { err: unknown } | undefined;
  private readonly syncWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(watch: WatchFn<T>, opts: InformerOptions = {}) {
    this.watchFn = watch;
    this.opts = opts;
  }

  /** addHandler registers a handler (or one function for every change); returns its remover.
   *  Handlers added after sync are not told about objects already cached: list() them. */
  addHandler(handler: InformerHandler | ((key: string) => void)): () => void {
    const h: InformerHandler = typeof handler === 'function' ? { onAdd: handler, onUpdate: handler, onDelete: handler } : handler;
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }

  /** start begins listing and watching in the background. Calling it again does nothing. */
  start(): void {
    if (this.loop !== undefined) return;
    this.loop = this.run();
  }

  /** hasSynced tells whether the first list has been loaded. */
  get hasSynced(): boolean {
    return this.synced;
  }

  /** revision is the last revision the cache reflects. */
  get revision(): number {
    return this.rev;
  }

  /** error is the error that stopped the informer, if one did. */
  get error(): unknown {
    return this.failure?.err;
  }

  /** waitForSync resolves once the first list is in the cache; rejects if the informer fails first. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.failure.err);
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  /** get returns the cached object with this key (frozen), or undefined. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** getByName returns the cached object in namespace ("" for cluster-scoped) with name. */
  getByName(namespace: string, name: string): T | undefined {
    return this.cache.get(namespace === '' ? name : `${namespace}/${name}`);
  }

  /** list returns the cached objects (frozen), those passing filter when it is given. */
  list(filter?: (obj: T) => boolean): T[] {
    const all = [...this.cache.values()];
    return filter === undefined ? all : all.filter(filter);
  }

  /** keys returns every cached key. */
  keys(): string[] {
    return [...this.cache.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** stop ends the watch and resolves when the informer has stopped. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private notify(kind: 'onAdd' | 'onUpdate' | 'onDelete', key: string): void {
    for (const h of this.handlers) {
      try {
        h[kind]?.(key);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }

  private async run(): Promise<void> {
    const { signal } = this.abort;
    try {
      const events = this.watchFn({
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        staleOk: this.opts.staleOk,
        signal,
        onRetry: (err) => this.opts.onError?.(err),
      });
      for await (const ev of events) {
        if (signal.aborted) break;
        this.apply(ev);
      }
    } catch (err) {
      if (signal.aborted) return;
      this.failure = { err };
      this.opts.onError?.(err);
      for (const w of this.syncWaiters.splice(0)) w.reject(err);
    }
  }

  private apply(ev: WatchEvent<T>): void {
    this.rev = ev.revision;
    switch (ev.type) {
      case 'BOOKMARK':
        return;
      case 'RESYNC': {
        const fresh = new Map<string, T>();
        for (const item of ev.items) fresh.set(objectKey(item), deepFreeze(item));
        const before = new Map(this.cache);
        this.cache.clear();
        for (const [k, v] of fresh) this.cache.set(k, v);
        for (const [k, v] of fresh) {
          const old = before.get(k);
          if (old === undefined) this.notify('onAdd', k);
          else if (old.metadata.resourceVersion !== v.metadata.resourceVersion) this.notify('onUpdate', k);
        }
        for (const k of before.keys()) if (!fresh.has(k)) this.notify('onDelete', k);
        if (!this.synced) {
          this.synced = true;
          for (const w of this.syncWaiters.splice(0)) w.resolve();
        }
        return;
      }
      case 'ADDED':
      case 'MODIFIED': {
        const key = objectKey(ev.object);
        const had = this.cache.has(key);
        this.cache.set(key, deepFreeze(ev.object));
        this.notify(had ? 'onUpdate' : 'onAdd', key);
        return;
      }
      case 'DELETED': {
        const key = objectKey(ev.object);
        if (this.cache.delete(key)) this.notify('onDelete', key);
        return;
      }
    }
  }
}
