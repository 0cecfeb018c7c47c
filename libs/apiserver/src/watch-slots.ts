/**
 * WatchSlots bounds and ends a member's open watches: each watch takes a slot while it is open
 * (RESOURCE_EXHAUSTED beyond `max`), and every open watch ends when the member closes them
 * all (the client resumes at another member, or at this one again).
 */
import { GrpcError, Status } from '@tugboat/proto';

export class WatchSlots {
  private readonly member: string;
  private readonly max: number;
  private ending = new AbortController();
  private closedForGood = false;
  private count = 0;

  constructor(member: string, max: number) {
    this.member = member;
    this.max = max;
  }

  /** open is the number of open watches. */
  get open(): number {
    return this.count;
  }

  /** take takes a slot for a new watch: `signal` aborts when the watches are ended; call `done` once when it ends. */
  take(): { signal: AbortSignal; done: () => void } {
    if (this.closedForGood) throw new GrpcError(Status.UNAVAILABLE, `${this.member} is shutting down; watch at another member`);
    if (this.count >= this.max) throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${this.member} serves ${this.count} watches, the most it takes`);
    this.count++;
    let ended = false;
    return {
      signal: this.ending.signal,
      done: () => {
        if (ended) return;
        ended = true;
        this.count--;
      },
    };
  }

  /** endAll ends every open watch; with `forGood`, new ones are refused from now on (shutdown). */
  endAll(forGood: boolean): void {
    this.ending.abort();
    if (forGood) this.closedForGood = true;
    else this.ending = new AbortController();
  }
}
