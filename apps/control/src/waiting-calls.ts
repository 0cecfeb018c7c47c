/**
 * WaitingCalls are calls of a leader waiting on Raft for their results. When the member steps
 * down or shuts down they must all fail at once (the client then retries at the new leader with
 * the same request id) rather than wait for a result that may never come.
 */
export class WaitingCalls<E> {
  /** Rejecters of the calls still waiting. */
  readonly #rejecters = new Set<(e: E) => void>();

  /** size is how many calls wait now. */
  get size(): number {
    return this.#rejecters.size;
  }

  /** wait resolves with what `result` resolves to, or rejects with onError of its failure, or
   *  with the error given to failAll first, whichever comes first. */
  wait<T>(result: Promise<T>, onError: (err: unknown) => E): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const fail = (e: E): void => {
        if (done) return;
        done = true;
        this.#rejecters.delete(fail);
        reject(e);
      };
      this.#rejecters.add(fail);
      result.then(
        (r) => {
          if (done) return;
          done = true;
          this.#rejecters.delete(fail);
          resolve(r);
        },
        (err: unknown) => fail(onError(err)),
      );
    });
  }

  /** failAll fails every call waiting now with `e`. */
  failAll(e: E): void {
    const rejecters = [...this.#rejecters];
    this.#rejecters.clear();
    for (const r of rejecters) r(e);
  }
}
