// controllers.ts: the control loops tug-control runs while it leads (see LeaderLoops in
// @tugboat/controllers). Each is a level-triggered reconcile loop over the term's shared
// informers; their order here is the order they start in.
import type { Controller } from '@tugboat/controllers';

/** controllers returns a fresh set of the control loops. */
export function controllers(): Controller[] {
  return [];
}
