import type { ConfChange, InitialState, Membership, Message, NodeId, RaftConfig, Ready, Role } from '@tugboat/raft';
import { RaftCore } from '@tugboat/raft';

/** ProposeOutcome mirrors the core's ProposeResult (docs/raft-core-api.md). */
export type ProposeOutcome =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: string; readonly leader: NodeId | ''; readonly message: string };

/** CoreStatus is the part of the core's RaftStatus the simulator reads. */
export interface CoreStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | '';
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly snapshotIndex: number;
  readonly role: Role;
  readonly leader: NodeId | '';
  readonly membership: Membership;
}

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
