/**
 * ServiceProxy: the agent's service proxy. It follows Services and Endpoints (watch caches of
 * every namespace) and keeps this node's nat and filter tables programmed with libs/netconf's
 * rules, so every ClusterIP, nodePort and LoadBalancer IP reaches a ready endpoint.
 *
 * - Nothing is written before both caches hold their first list: an agent starting while the
 *   control plane is unreachable leaves the rules it finds as they are. Later, a control plane
 *   that goes away changes nothing either: the caches keep their last view.
 * - A sync computes the rules of the Services that changed since the last one (a Service and
 *   its Endpoints share a key), puts them together with the others', compares with what the
 *   kernel holds and writes only the chains that differ, in one `iptables-restore --noflush`
 *   (one atomic transaction per table; a change of more than a few hundred chains, such as the
 *   first sync, in several, each leaving consistent rules: libs/netconf renderRestore).
 *   Changes that arrive during a sync are folded into the next one; syncs never overlap.
 * - What the kernel holds is read from `iptables-save` at the first sync, after a failed one,
 *   and every `checkMs` (a periodic check that repairs chains or jumps someone else changed or
 *   removed). Between those, the proxy trusts what it wrote last.
 * - After a sync that removed a UDP endpoint, the conntrack entries that still point at it are
 *   deleted (libs/netconf staleConntrack).
 * - A failed sync is retried with back-off (1 s doubling to 30 s), logged once until it works.
 */
import type { Logger } from 'pino';
import type { Endpoints, Service } from '@tugboat/api';
import type { Informer } from '@tugboat/client';
import {
  assembleRules,
  diffRuleSets,
  isEmptyDiff,
  missingBuiltinJumps,
  parseSave,
  portRules,
  renderRestore,
  serviceTargets,
  staleConntrack,
} from '@tugboat/netconf';
import type { PortRules, PortTarget, RuleSet } from '@tugboat/netconf';
import type { ProxyCommands } from './commands.ts';

export interface ServiceProxyOptions {
  readonly services: Informer<Service>;
  readonly endpoints: Informer<Endpoints>;
  readonly commands: ProxyCommands;
  readonly log: Logger;
  /** How often the kernel's rules are read back and repaired, ms. Default 10,000. */
  readonly checkMs?: number;
}

/** SyncStats describe the proxy's work so far (for logs, tests and benchmarks). */
export interface SyncStats {
  readonly syncs: number;
  /** Syncs that wrote something. */
  readonly writes: number;
  /** Periodic checks that found the kernel's rules changed by someone else. */
  readonly repairs: number;
  readonly lastSyncMs: number;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** ServiceProxy programs service rules; see the module comment. */
export class ServiceProxy {
  readonly #opts: ServiceProxyOptions;
  readonly #checkMs: number;
  readonly #removers: (() => void)[] = [];
  /** What the kernel holds as far as the proxy knows; undefined: read it back first. */
  #kernel: RuleSet | undefined;
  /** Per Service key ("namespace/name"): its targets and rules, as of the last sync that looked at it. */
  readonly #computed = new Map<string, { targets: PortTarget[]; rules: PortRules[] }>();
  /** Service keys changed since the last sync looked (every key, before the first sync). */
  readonly #dirty = new Set<string>();
  /** The targets the rules written last serve, in order. */
  #applied: readonly PortTarget[] = [];
  #started = false;
  #stopped = false;
  #running: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #checking = false;
  #stats = { syncs: 0, writes: 0, repairs: 0, lastSyncMs: 0 };
  readonly #waiters = new Set<() => void>();

  constructor(opts: ServiceProxyOptions) {
    this.#opts = opts;
    this.#checkMs = opts.checkMs ?? 10_000;
  }

  /** start follows the caches (which the caller starts) and syncs once both have their first list. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    // A Service and its Endpoints share their key: either changing makes it dirty.
    const changed = (key: string): void => {
      this.#dirty.add(key);
      this.#request();
    };
    this.#removers.push(this.#opts.services.addHandler(changed), this.#opts.endpoints.addHandler(changed));
    void Promise.all([this.#opts.services.waitForSync(), this.#opts.endpoints.waitForSync()]).then(
      () => {
        for (const key of this.#opts.services.keys()) this.#dirty.add(key);
        this.#request();
      },
      (err: unknown) => this.#opts.log.error({ err }, 'service proxy: the watch caches failed; rules stay as they are'),
    );
    this.#checkTimer = setInterval(() => {
      this.#kernel = undefined;
      this.#checking = true;
      this.#request();
    }, this.#checkMs);
  }

  /** stop ends the syncs; the rules stay as they are (pods keep being reachable while the agent is away). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const remove of this.#removers.splice(0)) remove();
    clearTimeout(this.#retryTimer);
    clearInterval(this.#checkTimer);
    await this.#running;
    for (const w of this.#waiters) w();
  }

  get stats(): SyncStats {
    return { ...this.#stats };
  }

  /** serves tells whether the rules written last send traffic to this pod IP. */
  serves(ip: string): boolean {
    const prefix = `${ip}:`;
    return this.#applied.some((t) => t.endpoints.some((ep) => ep.startsWith(prefix)));
  }

  /**
   * waitUntilUnserved resolves true once no Endpoints object lists this pod IP as ready and the
   * rules this proxy wrote send no traffic to it, false when `timeoutMs` passes first (or the
   * proxy stops). Every node's proxy follows the same Endpoints, so this is when clients
   * everywhere stop being sent to the pod, give or take one watch delivery.
   */
  async waitUntilUnserved(ip: string, timeoutMs: number): Promise<boolean> {
    const done = (): boolean => !this.serves(ip) && !this.#listedReady(ip);
    if (done()) return true;
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (this.#stopped || done()) finish(done());
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(result);
      };
      this.#waiters.add(check);
    });
  }

  #listedReady(ip: string): boolean {
    return this.#opts.endpoints.list().some((e) => (e.subsets ?? []).some((s) => (s.addresses ?? []).some((a) => a.ip === ip)));
  }

  #request(): void {
    if (this.#stopped || !this.#opts.services.hasSynced || !this.#opts.endpoints.hasSynced) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#retryTimer !== undefined) return; // a retry is already scheduled
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      for (const w of [...this.#waiters]) w();
    });
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#sync();
        if (this.#failures > 0) this.#opts.log.info({ failures: this.#failures }, 'service proxy: rules synced again');
        this.#failures = 0;
      } catch (err) {
        this.#kernel = undefined;
        this.#failures++;
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failures - 1));
        if (this.#failures === 1) this.#opts.log.warn({ err: (err as Error).message, retryInMs: delayMs }, 'service proxy: sync failed; retrying');
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#request();
        }, delayMs);
        return;
      }
      for (const w of [...this.#waiters]) w();
    } while (this.#again && !this.#stopped);
  }

  /**
   * #compute brings the computed rules of the dirty Services up to date and returns every
   * target and the whole rule set, in Service key order. Only dirty Services are computed
   * again; the others keep their rule arrays, which the diff then finds unchanged at once.
   */
  #compute(): { targets: PortTarget[]; desired: RuleSet } {
    const { services, endpoints } = this.#opts;
    for (const key of this.#dirty) {
      const svc = services.get(key);
      if (svc === undefined) {
        this.#computed.delete(key);
        continue;
      }
      const targets = serviceTargets(svc, endpoints.get(key));
      this.#computed.set(key, { targets, rules: targets.map(portRules) });
    }
    this.#dirty.clear();
    const keys = [...this.#computed.keys()].sort();
    const entries = keys.map((k) => this.#computed.get(k)!);
    return { targets: entries.flatMap((e) => e.targets), desired: assembleRules(entries.flatMap((e) => e.rules)) };
  }

  async #sync(): Promise<void> {
    const t0 = performance.now();
    const checking = this.#checking;
    this.#checking = false;
    // Reading the kernel's rules back (when needed) runs while the rules are computed.
    const known = this.#kernel;
    const saving = known === undefined ? this.#opts.commands.save() : undefined;
    saving?.catch(() => undefined); // awaited below; a failure there fails the sync
    const { targets, desired } = this.#compute();
    const saved = saving === undefined ? undefined : await saving;
    const jumps = saved === undefined ? [] : missingBuiltinJumps(saved);
    const diff = diffRuleSets(saved === undefined ? known! : parseSave(saved), desired);
    const input = renderRestore(diff, jumps);
    if (input !== '') await this.#opts.commands.restore(input);
    const first = this.#stats.syncs === 0;
    const previous = this.#applied;
    this.#kernel = desired;
    this.#applied = targets;
    this.#stats.syncs++;
    this.#stats.lastSyncMs = performance.now() - t0;
    const chains = diff.nat.write.size + diff.nat.remove.length + diff.filter.write.size + diff.filter.remove.length;
    if (input !== '') {
      this.#stats.writes++;
      if (checking) {
        this.#stats.repairs++;
        this.#opts.log.warn({ chains, jumps: jumps.length }, 'service proxy: repaired rules that were changed or removed outside tugboat');
      } else {
        this.#opts.log.debug({ chains, jumps: jumps.length, ms: Math.round(this.#stats.lastSyncMs) }, 'service proxy: rules synced');
      }
    }
    if (first) this.#opts.log.info({ ports: targets.length, chainsWritten: chains, ms: Math.round(this.#stats.lastSyncMs) }, 'service proxy: first sync done');
    else if (!isEmptyDiff(diff)) await this.#deleteStaleFlows(previous, targets);
  }

  async #deleteStaleFlows(previous: readonly PortTarget[], next: readonly PortTarget[]): Promise<void> {
    for (const d of staleConntrack(previous, next)) {
      try {
        await this.#opts.commands.deleteUdpFlows(d.args);
      } catch (err) {
        this.#opts.log.warn({ err: (err as Error).message, why: d.why }, 'service proxy: could not delete stale UDP conntrack entries');
      }
    }
  }
}
