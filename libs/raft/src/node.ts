/**
 * The Raft member as a running process part: RaftNode (driver), its LevelDB storage and its
 * gRPC transport. Re-exported from the package index; everything here does I/O, unlike core.ts.
 */
export {
  RaftNode,
  NotLeaderError,
  isNotLeaderError,
  ProposalDroppedError,
  isProposalDroppedError,
  RaftRequestError,
  isRaftRequestError,
  RaftTimeoutError,
  isRaftTimeoutError,
  RaftStoppedError,
  isRaftStoppedError,
} from './driver.ts';
export type { StateMachine, RaftNodeOptions, RaftNodeStatus, StateChange, ProposeOptions } from './driver.ts';
export {
  RaftStorage,
  RaftStorageCorruptError,
  isRaftStorageCorruptError,
  RaftStorageMismatchError,
  isRaftStorageMismatchError,
  STORAGE_FORMAT_VERSION,
} from './storage.ts';
export type { StoredState, StorageUpdate, StorageIdentity } from './storage.ts';
export { GrpcTransport, messageToProto, messageFromProto } from './transport.ts';
export type { Transport, MessageHandler, GrpcTransportOptions, TransportStats } from './transport.ts';
