// agent-client.ts: how `tug` reaches the tug-agent of a node (for logs and exec): the Node's
// InternalIP and the agent port it reports in status.daemonEndpoints.agentEndpoint.port.
import type { Node } from '@tugboat/api';
import { AgentService, Status, clientTransport, createClient, isGrpcError } from '@tugboat/proto';
import type { Security, ServiceClient } from '@tugboat/proto';
import { CliError } from './errors.ts';

export type AgentClient = ServiceClient<typeof AgentService>;

/** agentAddress is the HOST:PORT of the node's tug-agent; throws a CliError saying what the
 *  Node object lacks. */
export function agentAddress(node: Node): string {
  const name = node.metadata.name ?? '';
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (ip === undefined || ip === '') throw new CliError(`node ${name} reports no InternalIP address; is its tug-agent running?`);
  const port = node.status?.daemonEndpoints?.agentEndpoint?.port;
  if (port === undefined || port === 0) {
    throw new CliError(`node ${name} reports no agent port (status.daemonEndpoints.agentEndpoint.port); is its tug-agent running?`);
  }
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** connectAgent makes a client of the agent at address. */
export function connectAgent(address: string, security: Security): AgentClient {
  return createClient(AgentService, address, clientTransport(security, address));
}

/** agentError turns a failed agent call into a CliError naming the node (and the address when
 *  the agent could not be reached); other errors are returned as they are. */
export function agentError(err: unknown, node: string, address: string): unknown {
  if (!isGrpcError(err)) return err;
  if (err.code === Status.UNAVAILABLE) return new CliError(`cannot reach the tug-agent of node ${node} at ${address}: ${err.message}`);
  return new CliError(`tug-agent on node ${node}: ${err.message}`);
}
