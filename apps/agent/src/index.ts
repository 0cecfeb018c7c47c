/** @tugboat/agent: tug-agent, the node agent (see agent.ts). */
export { Agent, VERSION, main } from './agent.ts';
export { parseFlags, usage } from './flags.ts';
export type { AgentFlags } from './flags.ts';
export { AgentServer, ContainerNotFoundError, isContainerNotFoundError } from './server.ts';
export type { AgentServerOptions, ContainerInstance, ContainerLookup } from './server.ts';
export { UsageSampler } from './stats/sampler.ts';
export type { UsageReport, UsageSources } from './stats/sampler.ts';
export { ServiceProxy } from './proxy/proxier.ts';
export type { ServiceProxyOptions, SyncStats } from './proxy/proxier.ts';
export { hostCommands } from './proxy/commands.ts';
export type { ProxyCommands } from './proxy/commands.ts';
export { fedInformer } from './proxy/fed-informer.ts';
export type { FedInformer } from './proxy/fed-informer.ts';
