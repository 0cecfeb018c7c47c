/**
 * TugCluster runs tug-control members (the API server, apps/control) as real processes on
 * loopback, for integration tests, the demo and benchmarks: N members on 127.0.0.x with free
 * ports and temporary data dirs; waits until every member is ready (ClusterService.Health);
 * finds the leader; SIGKILLs, SIGTERMs and restarts members by PID; adds members with --join
 * and removes them; runs the `tug` CLI against the cluster; and compares the object set of
 * every member (`sameObjects`).
 *
 * Cleanup: `stop()` ends only the processes this cluster started (by PID: SIGTERM, then
 * SIGKILL after `stopGraceMs`) and removes its temporary directory. Every live cluster is also
 * killed (synchronously, SIGKILL) when this process exits or gets SIGINT/SIGTERM, and each
 * member runs with TUG_EXIT_ON_STDIN_EOF=1 on a pipe from us, so it exits by itself even if this
 * process is SIGKILLed; the directory such a process leaves behind is removed by the next
 * `TugCluster.start` with the same prefix (it checks that the owner recorded in it is gone).
 *
 * Logs: each member's stderr (pino, one JSON line per event) goes to DIR/NAME.log, appended
 * across restarts; `logTail` returns the end of it. With TUG_KEEP_TEST_DIRS=1 the directory is
 * kept and its path printed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import type { MemberInfo, TugClientOptions } from '@tugboat/client';
import { canonicalJson } from '@tugboat/store';
import { MemberProcessCluster, planMembers, sleep } from './member-process.ts';
import type { MemberClusterOptions, PlannedMembers } from './member-process.ts';

/** tugControlMainPath is the tug-control entry point the harness runs. */
const tugControlMainPath = fileURLToPath(new URL('../../apps/control/src/main.ts', import.meta.url));
/** tugCliMainPath is the `tug` CLI entry point. */
const tugCliMainPath = fileURLToPath(new URL('../../apps/cli/src/main.ts', import.meta.url));

/**
 * TugClusterOptions: see MemberClusterOptions. Defaults here: hosts 127.0.0.1, 127.0.0.2, ...,
 * stopGraceMs 5,000, dirPrefix 'tug-api-cluster-'.
 */
export interface TugClusterOptions extends MemberClusterOptions {
  /** --snapshot-entries. Default: tug-control's. */
  readonly snapshotEntries?: number;
  /** program is the tug-control to run: default its source; the benchmarks run the bundle a
   *  local cluster runs (@tugboat/localcluster's bundlePrograms). */
  readonly program?: string;
}

/** CliResult is what one run of `tug` did. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** objectSetHash is the hex SHA-256 of every object of every served kind, in list order, as canonical JSON. */
export function objectSetHash(lists: readonly (readonly unknown[])[]): string {
  const h = createHash('sha256');
  for (const items of lists) {
    for (const o of items) {
      h.update(canonicalJson(o));
      h.update('\n');
    }
  }
  return h.digest('hex');
}

export class TugCluster extends MemberProcessCluster<TugClusterOptions> {
  private readonly clients = new Set<TugClient>();
  private readonly probes = new Map<string, TugClient>();

  private constructor(planned: PlannedMembers, opts: TugClusterOptions) {
    super('TugCluster', opts.program ?? tugControlMainPath, 5_000, planned, opts);
  }

  /** start launches the members with a fresh --initial-cluster and waits until each is ready. On failure everything started is cleaned up. */
  static async start(opts: TugClusterOptions = {}): Promise<TugCluster> {
    const cluster = new TugCluster(await planMembers('TugCluster', opts, { host: (i) => `127.0.0.${i + 1}`, dirPrefix: 'tug-api-cluster-' }), opts);
    await cluster.launch();
    return cluster;
  }

  /** client returns a TugClient over all members (or the given endpoints); closed by `stop`. */
  client(opts: Partial<TugClientOptions> = {}): TugClient {
    const c = new TugClient({ endpoints: this.endpoints(), security: this.security, ...opts });
    this.clients.add(c);
    return c;
  }

  /** clientOf returns a TugClient that talks to one member only (no failover); closed by `stop`. */
  clientOf(name: string, opts: Partial<TugClientOptions> = {}): TugClient {
    return this.client({ retryBudgetMs: 5_000, ...opts, endpoints: [this.find(name).apiAddress] });
  }

  /** memberStatus asks one member for its own state (no retries beyond `timeoutMs`). */
  async memberStatus(name: string, timeoutMs = 1_000): Promise<MemberInfo> {
    const r = await this.probe(name).cluster.memberStatus({ timeoutMs });
    if (r.member === undefined) throw new Error(`${name} answered MemberStatus without a member`);
    return r.member;
  }

  /** statuses asks every running member for its own state; a member that does not answer maps to its error. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, MemberInfo | Error>> {
    const out = new Map<string, MemberInfo | Error>();
    await Promise.all(
      this.state
        .filter((m) => !m.removed)
        .map(async (m) => {
          if (m.child === undefined) {
            out.set(m.name, new Error(`${m.name} is not running`));
            return;
          }
          try {
            out.set(m.name, await this.memberStatus(m.name, timeoutMs));
          } catch (err) {
            out.set(m.name, err as Error);
          }
        }),
    );
    return out;
  }

  /** remove takes a member out of the cluster (RemoveMember through the others), then stops its process. */
  async remove(name: string): Promise<void> {
    const m = this.find(name);
    const others = this.state.filter((s) => s !== m && !s.removed && s.child !== undefined).map((s) => s.apiAddress);
    const c = this.client({ endpoints: others, attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    await c.cluster.removeMember(name);
    m.removed = true;
    if (m.child !== undefined) await this.terminate(name);
  }

  /** waitReady waits until a member answers Health with ready=true; fails early if it exits. */
  async waitReady(name: string, timeoutMs = this.opts.readyTimeoutMs ?? 20_000): Promise<void> {
    const m = this.find(name);
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      if (m.child === undefined) throw new Error(`${m.name} exited during startup:\n${this.logTail(m.name, 10)}`);
      try {
        const h = await this.probe(name).health({ timeoutMs: 500 });
        if (h.ready) return;
        last = 'not ready';
      } catch (err) {
        last = (err as Error).message.split('\n')[0] ?? '';
      }
      await sleep(25);
    }
    throw new Error(`${m.name} was not ready within ${timeoutMs} ms (${last})`);
  }

  /** waitApplied waits until member `name` has applied at least `index`. */
  async waitApplied(name: string, index: number, timeoutMs = 20_000): Promise<MemberInfo> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      try {
        const s = await this.memberStatus(name, 500);
        if (s.applied >= index) return s;
        last = `applied ${s.applied}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`${name} did not apply index ${index} within ${timeoutMs} ms (${last})`);
  }

  /** objectHash hashes every object of every served kind as one member holds it now (stale reads at that member). */
  async objectHash(name: string): Promise<{ hash: string; objects: number }> {
    const c = this.probe(name);
    const lists = [];
    for (const k of KINDS) lists.push((await c.list(k.kind, { staleOk: true, timeoutMs: 10_000 })).items);
    return { hash: objectSetHash(lists), objects: lists.reduce((n, l) => n + l.length, 0) };
  }

  /**
   * sameObjects waits until every running member has applied the leader's commit index, then
   * checks that the hash of the whole object set is equal on all of them; returns it. Throws
   * naming each member's hash otherwise.
   */
  async sameObjects(timeoutMs = 20_000): Promise<{ hash: string; objects: number }> {
    const giveUp = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < giveUp) {
      const leader = await this.waitForLeader({ timeoutMs: Math.max(1, giveUp - performance.now()) });
      const commit = (await this.memberStatus(leader.name)).commit;
      const running = this.members.filter((m) => m.running);
      await Promise.all(running.map((m) => this.waitApplied(m.name, commit, Math.max(1, giveUp - performance.now()))));
      const hashes = await Promise.all(running.map(async (m) => ({ name: m.name, ...(await this.objectHash(m.name)) })));
      // Writes may have gone on meanwhile: compare again after the next commit index if they differ.
      if (hashes.every((h) => h.hash === hashes[0]!.hash)) return { hash: hashes[0]!.hash, objects: hashes[0]!.objects };
      last = hashes.map((h) => `${h.name}: ${h.hash.slice(0, 12)} (${h.objects} objects)`).join(', ');
      await sleep(100);
    }
    throw new Error(`object sets differ between members: ${last}`);
  }

  /** cli runs `tug ARGS` against the members (TUG_ENDPOINTS, the harness's admin certificate)
   *  and returns what it did. */
  async cli(args: readonly string[], opts: { endpoints?: readonly string[]; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    const endpoints = opts.endpoints ?? this.endpoints();
    const admin = this.pki?.admin;
    const tls = admin === undefined ? [] : ['--certificate-authority', admin.caFile, '--client-certificate', admin.certFile, '--client-key', admin.keyFile];
    const child = spawn(process.execPath, [tugCliMainPath, ...tls, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TUG_ENDPOINTS: endpoints.join(','), TUG_CONFIG: join(this.dir, 'no-tug-config') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (c) => resolve(c));
      child.once('error', () => resolve(null));
    });
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** flags returns the tug-control flags a member was last started with. */
  flags(name: string): readonly string[] {
    return this.find(name).args;
  }

  /** logText returns a member's whole log. */
  logText(name: string): string {
    try {
      return readFileSync(this.find(name).logFile, 'utf8');
    } catch {
      return '';
    }
  }

  // -------------------------------------------------------------------------------------------

  private probe(name: string): TugClient {
    const m = this.find(name);
    let c = this.probes.get(m.apiAddress);
    if (c === undefined) {
      c = new TugClient({ endpoints: [m.apiAddress], security: this.security, attemptTimeoutMs: 2_000, retryBudgetMs: 2_000, unreachableRoundsMax: 1 });
      this.probes.set(m.apiAddress, c);
    }
    return c;
  }

  protected closeClients(): void {
    for (const c of this.clients) c.close();
    for (const c of this.probes.values()) c.close();
  }

  protected waitStarted(name: string): Promise<void> {
    return this.waitReady(name);
  }

  protected override memberFlags(): string[] {
    return this.opts.snapshotEntries === undefined ? [] : ['--snapshot-entries', String(this.opts.snapshotEntries)];
  }
}
