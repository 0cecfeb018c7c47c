/**
 * CommandLogCluster runs command-log members (main.ts: tug-control's Raft layer with a command
 * log as the state machine and the MemberService API, no object store) as real processes on
 * loopback, for the Raft-level integration tests and the Raft benchmark (TugCluster,
 * ../tug-cluster.ts, runs tug-control itself). It starts N members on 127.0.0.x with free ports
 * and temporary data dirs, waits until they are ready, finds the leader, SIGKILLs and restarts
 * members by PID.
 *
 * Cleanup: `stop()` ends only the processes this cluster started (by PID: SIGTERM, then SIGKILL
 * after `stopGraceMs`) and removes its temporary directory. Every live cluster is also stopped
 * (synchronously, with SIGKILL) when the process exits or gets SIGINT/SIGTERM, and each member
 * runs with TUG_EXIT_ON_STDIN_EOF=1 on a pipe from us, so it exits by itself even if this
 * process is SIGKILLed; the directory such a process leaves behind is removed by the next
 * `CommandLogCluster.start` (it checks that the owner recorded in it is gone). Tests should still
 * call `stop()` (e.g. `t.after(() => cluster.stop())`).
 *
 * Logs: each member's stderr (pino, one JSON line per event) goes to DIR/NAME.log, appended
 * across restarts; `logTail` returns the end of it for failure messages. With
 * TUG_KEEP_TEST_DIRS=1 the directory is kept and its path printed.
 */
import { fileURLToPath } from 'node:url';
import { MemberProcessCluster, planMembers, sleep } from '../member-process.ts';
import type { MemberClusterOptions, PlannedMembers } from '../member-process.ts';
import { MemberClient } from './client.ts';
import type { MemberClientOptions } from './client.ts';
import type { MemberServiceStatusResponse } from './gen/tug/v1/member_pb.js';

/** commandLogMemberMainPath is the entry point the harness runs: the command-log member process. */
const commandLogMemberMainPath = fileURLToPath(new URL('./main.ts', import.meta.url));

/**
 * CommandLogClusterOptions: see MemberClusterOptions. Defaults here: hosts all 127.0.0.1,
 * stopGraceMs 3,000, dirPrefix 'tug-cluster-'.
 */
export type CommandLogClusterOptions = MemberClusterOptions;

export class CommandLogCluster extends MemberProcessCluster<CommandLogClusterOptions> {
  private readonly clients = new Set<MemberClient>();
  private readonly probe: MemberClient;

  private constructor(planned: PlannedMembers, opts: CommandLogClusterOptions) {
    super('CommandLogCluster', commandLogMemberMainPath, 3_000, planned, opts);
    this.probe = new MemberClient({ endpoints: planned.state.map((m) => m.apiAddress), security: this.security, attemptTimeoutMs: 1_000 });
  }

  /**
   * start launches the members with a fresh `--initial-cluster` and waits until every member
   * answers Status and a leader is elected. On failure everything started is cleaned up.
   */
  static async start(opts: CommandLogClusterOptions = {}): Promise<CommandLogCluster> {
    const cluster = new CommandLogCluster(await planMembers('CommandLogCluster', opts, { host: () => '127.0.0.1', dirPrefix: 'tug-cluster-' }), opts);
    await cluster.launch(() => cluster.waitForLeader());
    return cluster;
  }

  /** client returns a MemberClient over all members; it is closed by `stop`. */
  client(opts: Partial<MemberClientOptions> = {}): MemberClient {
    const c = new MemberClient({ endpoints: this.endpoints(), security: this.security, ...opts });
    this.clients.add(c);
    return c;
  }

  /** status asks one member for its Status (no retries). */
  async status(name: string, timeoutMs = 1_000): Promise<MemberServiceStatusResponse> {
    return this.probe.status(this.find(name).apiAddress, timeoutMs);
  }

  /** statuses asks every running member; a member that does not answer maps to its error. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, MemberServiceStatusResponse | Error>> {
    const out = new Map<string, MemberServiceStatusResponse | Error>();
    await Promise.all(
      this.state.map(async (m) => {
        if (m.child === undefined) {
          out.set(m.name, new Error(`${m.name} is not running`));
          return;
        }
        try {
          out.set(m.name, await this.probe.status(m.apiAddress, timeoutMs));
        } catch (err) {
          out.set(m.name, err as Error);
        }
      }),
    );
    return new Map(this.state.map((m) => [m.name, out.get(m.name)!]));
  }

  /** waitApplied waits until member `name` has applied at least `index`. */
  async waitApplied(name: string, index: number, timeoutMs = 20_000): Promise<MemberServiceStatusResponse> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      try {
        const s = await this.status(name, 500);
        if (Number(s.applied) >= index) return s;
        last = `applied ${s.applied}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`${name} did not apply index ${index} within ${timeoutMs} ms (${last})`);
  }

  // -------------------------------------------------------------------------------------------

  protected closeClients(): void {
    for (const c of this.clients) c.close();
    this.probe.close();
  }

  /** waitStarted waits until the member answers Status; fails early if it exits. */
  protected async waitStarted(name: string): Promise<void> {
    const m = this.find(name);
    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      const child = m.child;
      if (child === undefined) throw new Error(`${m.name} exited during startup:\n${this.logTail(m.name, 10)}`);
      try {
        await this.probe.status(m.apiAddress, 500);
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(25);
    }
    throw new Error(`${m.name} did not answer Status within ${timeoutMs} ms (${last})`);
  }
}
