export * from './types.ts';
export { RaftCore, bootstrapState, joinState, newMessage } from './core.ts';
export type { ProposeResult, RaftStatus } from './core.ts';
export { encodeConfChange, decodeConfChange, applyConfChange, quorum } from './conf.ts';
export * from './node.ts';
