import type { ConfChange, InitialState, Message, NodeId, RaftConfig, RaftStatus, Ready } from '@tugboat/raft';
import { RaftCore } from '@tugboat/raft';

/** ProposeOutcome mirrors the core's ProposeResult (docs/raft-core-api.md). */
export type ProposeOutcome =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: string; readonly leader: NodeId | ''; readonly message: string };

/** CoreStatus is the core's status as the simulator reads it. */
export type CoreStatus = RaftStatus;

/**
 * SimCore is the surface of `RaftCore` the simulator drives. Tests substitute deliberately
 * broken cores (usually wrappers around the real one) through a {@link CoreFactory}.
 */
export interface SimCore {
  tick(): void;
  step(msg: Message): string | undefined;
  propose(data: Uint8Array): ProposeOutcome;
  proposeConfChange(cc: ConfChange): ProposeOutcome;
  transferLeadership(to: NodeId): string | undefined;
  readIndex(context: string): string | undefined;
  campaign(): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  compact(index: number, data: Uint8Array): void;
  status(): CoreStatus;
}

/** CoreFactory builds the core of one member incarnation. */
export type CoreFactory = (config: RaftConfig, initial: InitialState) => SimCore;

/** realCore builds the production `RaftCore`. */
export const realCore: CoreFactory = (config, initial) => new RaftCore(config, initial);
