/** @tugboat/agent: tug-agent, the node agent (see agent.ts). */
export { Agent, VERSION, main } from './agent.ts';
export { parseFlags, usage } from './flags.ts';
export type { AgentFlags } from './flags.ts';
export { AgentServer, ContainerNotFoundError, isContainerNotFoundError } from './server.ts';
export type { AgentServerOptions, ContainerInstance, ContainerLookup } from './server.ts';
export { UsageSampler } from './stats/sampler.ts';
export type { UsageReport, UsageSources } from './stats/sampler.ts';
