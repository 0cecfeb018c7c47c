// agent-commands.ts: `tug logs` and `tug exec`. Both read the Pod through the API to learn its
// node and container, then call that node's tug-agent directly (agent-client.ts): the control
// plane never carries logs or command output.
import type { Command } from 'commander';
import type { Pod } from '@tugboat/api';
import type { Security } from '@tugboat/proto';
import { agentAddress, agentError, connectAgent } from './agent-client.ts';
import type { AgentClient } from './agent-client.ts';
import { CliError, ExitCodeError, UsageError } from './errors.ts';
import type { Session } from './session.ts';

/** EXEC_CALL_MARGIN_SECONDS is how much longer than the command's timeout tug waits for the
 *  agent's answer. */
const EXEC_CALL_MARGIN_SECONDS = 15;
/** EXEC_TIMEOUT_DEFAULT_SECONDS is the agent's timeout when --timeout is not given. */
const EXEC_TIMEOUT_DEFAULT_SECONDS = 60;

/** pickContainer is the container a command means: -c, else the pod's only container. */
export function pickContainer(pod: Pod, flag: string | undefined, command: string): string {
  const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const names = pod.spec.containers.map((c) => c.name);
  if (flag !== undefined) {
    if (!names.includes(flag)) throw new CliError(`pod ${podName} has no container "${flag}"; its containers: ${names.join(', ')}`);
    return flag;
  }
  if (names.length === 1) return names[0]!;
  throw new UsageError(`pod ${podName} has several containers (${names.join(', ')}): choose one with -c`, command);
}

/** positiveInteger reads a flag value that must be a whole number of at least 1. */
function positiveInteger(text: string, flag: string, what: string, command: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not ${what} (a whole number, 1 or more)`, command);
  }
  return Number(text);
}

/** AgentTarget is a container and the agent that runs it. */
interface AgentTarget {
  namespace: string;
  pod: string;
  container: string;
  node: string;
  address: string;
  security: Security;
}

/** locate finds the container and its node's agent through the API. */
async function locate(s: Session, podName: string, containerFlag: string | undefined, command: string): Promise<AgentTarget> {
  const { namespace } = s.namespace();
  const pod = await s.client().pods.get(namespace, podName);
  const container = pickContainer(pod, containerFlag, command);
  const node = pod.spec.nodeName;
  if (node === undefined || node === '') throw new CliError(`pod ${namespace}/${podName} is not bound to a node yet`);
  const address = agentAddress(await s.client().nodes.get(node));
  return { namespace, pod: podName, container, node, address, security: s.security() };
}

/** withAgent calls fn with a client of the target's agent, translating its failures. */
async function withAgent<T>(t: AgentTarget, fn: (agent: AgentClient) => Promise<T>): Promise<T> {
  const agent = connectAgent(t.address, t.security);
  try {
    return await fn(agent);
  } catch (err) {
    throw agentError(err, t.node, t.address);
  } finally {
    agent.close();
  }
}

export interface LogsOptions {
  container?: string;
  follow?: boolean;
  tail?: string;
  previous?: boolean;
  timestamps?: boolean;
}

/** logsCommand prints a container's log; with -f it goes on until the container's log ends or
 *  the user interrupts (which is not an error). */
export async function logsCommand(s: Session, podName: string, opts: LogsOptions): Promise<void> {
  s.output([], 'logs');
  const tailLines = opts.tail === undefined ? 0 : positiveInteger(opts.tail, '--tail', 'a number of lines', 'logs');
  const t = await locate(s, podName, opts.container, 'logs');
  const signal = s.io.signal;
  try {
    await withAgent(t, async (agent) => {
      const stream = agent.logs(
        {
          namespace: t.namespace,
          pod: t.pod,
          container: t.container,
          follow: opts.follow === true,
          tailLines,
          previous: opts.previous === true,
          timestamps: opts.timestamps === true,
        },
        { signal },
      );
      for await (const res of stream) s.io.stdout.write(res.data);
    });
  } catch (err) {
    if (signal?.aborted === true) return;
    throw err;
  }
}

export interface ExecOptions {
  container?: string;
  timeout?: string;
}

/** execCommand runs a command in a container, writes its output as it is, and makes its exit
 *  code tug's (by throwing ExitCodeError when it is not 0). */
export async function execCommand(s: Session, podName: string, command: string[], opts: ExecOptions): Promise<void> {
  s.output([], 'exec');
  const timeoutSeconds = opts.timeout === undefined ? 0 : positiveInteger(opts.timeout, '--timeout', 'a number of seconds', 'exec');
  const t = await locate(s, podName, opts.container, 'exec');
  const callSeconds = (timeoutSeconds === 0 ? EXEC_TIMEOUT_DEFAULT_SECONDS : timeoutSeconds) + EXEC_CALL_MARGIN_SECONDS;
  const res = await withAgent(t, (agent) =>
    agent.exec(
      { namespace: t.namespace, pod: t.pod, container: t.container, command, timeoutSeconds },
      { timeoutMs: callSeconds * 1000, signal: s.io.signal },
    ),
  );
  if (res.stdout.length > 0) s.io.stdout.write(res.stdout);
  if (res.stderr.length > 0) s.io.stderr.write(res.stderr);
  if (res.exitCode !== 0) throw new ExitCodeError(res.exitCode);
}

/** addAgentCommands registers `logs` and `exec` on program. */
export function addAgentCommands(program: Command, s: Session): void {
  program
    .command('logs')
    .summary("print a container's log")
    .description(
      "Print the log of a pod's container (stdout and stderr, as written), read from the tug-agent of the pod's node. -f keeps printing new lines until the container exits (Ctrl-C stops).",
    )
    .argument('<pod>', 'the pod\'s name')
    .option('-c, --container <name>', 'the container (default: the pod\'s only container)')
    .option('-f, --follow', 'keep printing new lines as they are written')
    .option('--tail <lines>', 'start with only the last LINES lines')
    .option('-p, --previous', 'the log of the container\'s previous instance (the one that last exited)')
    .option('--timestamps', 'start each line with the time it was written (RFC 3339)')
    .action(async (pod: string, opts: LogsOptions, cmd: Command) => logsCommand(s.use(cmd), pod, opts));

  program
    .command('exec')
    .summary('run a command in a container')
    .description(
      "Run a command in a pod's running container, through the tug-agent of the pod's node, and print its output. Not interactive (no stdin, no terminal). tug exits with the command's exit code. Put -- before the command when it has options of its own.",
    )
    .usage('[options] POD -- COMMAND [ARGS...]')
    .argument('<pod>', 'the pod\'s name')
    .argument('<command...>', 'the command and its arguments')
    .option('-c, --container <name>', 'the container (default: the pod\'s only container)')
    .option('--timeout <seconds>', `stop the command after this many seconds (default: ${EXEC_TIMEOUT_DEFAULT_SECONDS})`)
    .addHelpText('after', '\nExample:\n  tug exec web -c app -- sh -c \'ls -l /data\'')
    .action(async (pod: string, command: string[], opts: ExecOptions, cmd: Command) => execCommand(s.use(cmd), pod, command, opts));
}
