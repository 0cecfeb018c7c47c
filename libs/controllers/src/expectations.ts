// expectations.ts: what a controller is waiting to see in its watch cache after its own writes.
// A ReplicaSet that has just asked for 3 pods does not see them in its informer yet; counting
// again then would create 3 more. So it records that it expects 3 creations (and which pods it
// expects to see deleted), and manages replicas again only once the informer has shown all of
// them, or once the record has expired (a lost event must not block it for good).

interface Expected {
  adds: number;
  deletes: Set<string>;
  atMs: number;
}

/** Expectations tracks, per controller key, the creations and deletions not yet observed. */
export class Expectations {
  readonly #ttlMs: number;
  readonly #byKey = new Map<string, Expected>();
  /** dependent key -> controller key, for the deletions expected. */
  readonly #deleting = new Map<string, string>();

  /** ttlMs: how long a record holds before it counts as satisfied anyway. */
  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** expectCreations records that `count` creations for key are under way (replacing any earlier count). */
  expectCreations(key: string, count: number, nowMs: number): void {
    const e = this.#entry(key, nowMs);
    e.adds = count;
    e.atMs = nowMs;
  }

  /** creationObserved: one creation for key was seen (or will never happen). */
  creationObserved(key: string, count = 1): void {
    const e = this.#byKey.get(key);
    if (e !== undefined) e.adds -= count;
  }

  /** expectDeletions records that the dependents with these keys are being deleted for key. */
  expectDeletions(key: string, dependents: readonly string[], nowMs: number): void {
    const e = this.#entry(key, nowMs);
    e.atMs = nowMs;
    for (const d of dependents) {
      e.deletes.add(d);
      this.#deleting.set(d, key);
    }
  }

  /** deletionObserved: the dependent with this key was seen deleted (or terminating), or will not be. */
  deletionObserved(dependent: string): void {
    const key = this.#deleting.get(dependent);
    if (key === undefined) return;
    this.#deleting.delete(dependent);
    this.#byKey.get(key)?.deletes.delete(dependent);
  }

  /** satisfied tells whether key has nothing outstanding (or its record expired). */
  satisfied(key: string, nowMs: number): boolean {
    const e = this.#byKey.get(key);
    if (e === undefined) return true;
    return (e.adds <= 0 && e.deletes.size === 0) || nowMs - e.atMs > this.#ttlMs;
  }

  /** forget drops key's record (its controller object is gone). */
  forget(key: string): void {
    const e = this.#byKey.get(key);
    if (e === undefined) return;
    for (const d of e.deletes) this.#deleting.delete(d);
    this.#byKey.delete(key);
  }

  #entry(key: string, nowMs: number): Expected {
    let e = this.#byKey.get(key);
    if (e !== undefined && nowMs - e.atMs > this.#ttlMs) {
      // An expired record starts over: what it still waited for will not be seen any more.
      this.forget(key);
      e = undefined;
    }
    if (e === undefined) {
      e = { adds: 0, deletes: new Set(), atMs: nowMs };
      this.#byKey.set(key, e);
    }
    return e;
  }
}
