// @tugboat/proto: the generated protobuf-es code for every .proto under proto/ (regenerate with
// `npm run gen`) and the grpc-js adapter that serves and calls those services.
// Every generated module is re-exported here (scripts/gen.test.ts checks that none is missing).
export * from './grpc.ts';
export * from './tls.ts';
export * from './log-limiter.ts';
export * from './gen/tug/v1/agent_pb.js';
export * from './gen/tug/v1/api_pb.js';
export * from './gen/tug/v1/forward_pb.js';
export * from './gen/tug/v1/raft_pb.js';
export * from './gen/tug/v1/testing_pb.js';
export * as cri from './gen/cri/runtime/v1/api_pb.js';
export * as containerdEvents from './gen/containerd/services/events/v1/events_pb.js';
