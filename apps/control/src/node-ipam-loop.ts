/**
 * NodeIpamLoop gives every Node a pod CIDR (spec.podCIDR, from @tugboat/controllers
 * assignPodCidrs), on the leader only.
 *
 * It runs while this member leads: an informer on Nodes (through the member's own API) wakes it
 * when a Node lacks a pod CIDR, and it also runs every `resyncMs`. A round reads the Nodes with a
 * linearizable list (so it sees every CIDR a former leader handed out), plans the new
 * assignments and writes each with a compare-and-swap update. A conflict (the Node changed
 * meanwhile) or any other failure is retried after `retryMs`, from a fresh list. When the
 * member stops leading the informer stops and a round under way is abandoned; the API refuses
 * a change to a podCIDR once set, so a late write of a deposed leader cannot move a CIDR.
 */
import type { Logger } from 'pino';
import type { Node } from '@tugboat/api';
import { assignPodCidrs, unassignable } from '@tugboat/controllers';
import { isConflict, isNotFound, isInvalid } from '@tugboat/client';
import type { Informer, TugClient } from '@tugboat/client';

export interface NodeIpamLoopOptions {
  /** isLeader tells whether this member leads now. */
  readonly isLeader: () => boolean;
  /** onLeadershipChange registers a listener called after any role or leader change; returns its remover. */
  readonly onLeadershipChange: (listener: () => void) => () => void;
  /** client reaches the API (the member's own address). */
  readonly client: TugClient;
  readonly log: Logger;
  /** Pause before retrying a failed round, ms. Default 500. */
  readonly retryMs?: number;
  /** Period of a full round while leading, ms. Default 10,000. */
  readonly resyncMs?: number;
}

interface Term {
  readonly informer: Informer<Node>;
  readonly abort: AbortController;
}

export class NodeIpamLoop {
  private readonly opts: NodeIpamLoopOptions;
  private readonly retryMs: number;
  private readonly resyncMs: number;
  private term: Term | undefined;
  private unsubscribe: (() => void) | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private warnedFull = '';
  /** Nodes the last round could not give a CIDR (the pod network is full). */
  private unserved = new Set<string>();

  constructor(opts: NodeIpamLoopOptions) {
    this.opts = opts;
    this.retryMs = opts.retryMs ?? 500;
    this.resyncMs = opts.resyncMs ?? 10_000;
  }

  /** start follows leadership from now on: the loop runs whenever this member leads. */
  start(): void {
    if (this.unsubscribe !== undefined || this.stopped) return;
    // The listener runs inside the Raft loop: look at the new role once it has returned.
    this.unsubscribe = this.opts.onLeadershipChange(() => setImmediate(() => this.follow()));
    this.follow();
  }

  /** stop ends the loop for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.endTerm();
  }

  /** follow starts or ends the loop's term to match this member's leadership. */
  private follow(): void {
    if (this.stopped) return;
    const leading = this.opts.isLeader();
    if (leading && this.term === undefined) this.beginTerm();
    else if (!leading && this.term !== undefined) void this.endTerm();
  }

  private beginTerm(): void {
    const { client, log } = this.opts;
    const informer = client.nodes.informer({
      onError: (err) => log.debug({ err: err instanceof Error ? err.message : String(err) }, 'node IPAM: Node watch interrupted; resuming'),
    });
    const term: Term = { informer, abort: new AbortController() };
    this.term = term;
    // Most Node changes are heartbeats: only a Node without a pod CIDR calls for a round.
    // Wake for a Node that needs a CIDR, but not for the ones a full pod network cannot serve
    // (a round already warned of them): only a deleted Node, which frees a CIDR, wakes for
    // those. Heartbeats of served Nodes never wake it.
    informer.addHandler({
      onAdd: (key) => this.wakeFor(informer.get(key)),
      onUpdate: (key) => this.wakeFor(informer.get(key)),
      onDelete: () => {
        if (this.unserved.size > 0) this.kick();
      },
    });
    informer.start();
    log.info('node IPAM: started (this member leads)');
    this.kick();
  }

  private async endTerm(): Promise<void> {
    const term = this.term;
    if (term === undefined) return;
    this.term = undefined;
    clearTimeout(this.timer);
    term.abort.abort();
    await term.informer.stop();
    await this.round;
    if (!this.stopped) this.opts.log.info('node IPAM: stopped (this member no longer leads)');
  }

  /** wakeFor kicks a round when node lacks a pod CIDR that the pool can still give. */
  private wakeFor(node: Node | undefined): void {
    if (node === undefined || node.spec?.podCIDR || node.metadata.deletionTimestamp !== undefined) return;
    if (this.unserved.has(node.metadata.name ?? '')) return;
    this.kick();
  }

  /** kick runs a round now, or once more after the one under way. */
  private kick(): void {
    const term = this.term;
    if (term === undefined) return;
    if (this.round !== undefined) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.round = this.reconcile(term).then((ok) => {
      this.round = undefined;
      if (this.term !== term) {
        // Leadership was lost (and maybe won again) during the round: start the new term's.
        this.again = false;
        if (this.term !== undefined) this.kick();
        return;
      }
      if (this.again) {
        this.again = false;
        this.kick();
        return;
      }
      this.timer = setTimeout(() => this.kick(), ok ? this.resyncMs : this.retryMs);
    });
  }

  /** reconcile runs one round; false when some Node should be tried again soon. */
  private async reconcile(term: Term): Promise<boolean> {
    const { client, log } = this.opts;
    const signal = term.abort.signal;
    try {
      const { items } = await client.nodes.list({ signal });
      const plan = assignPodCidrs(items);
      const unserved = unassignable(items, plan);
      this.unserved = new Set(unserved);
      const full = unserved.join(',');
      if (full !== '' && full !== this.warnedFull) log.warn({ nodes: full }, 'node IPAM: the pod network is full; these Nodes get no pod CIDR');
      this.warnedFull = full;
      let ok = true;
      for (const [name, podCIDR] of plan) {
        if (signal.aborted || !this.opts.isLeader()) return true;
        const node = items.find((n) => n.metadata.name === name)!;
        try {
          await client.nodes.update({ ...node, spec: { ...node.spec, podCIDR } }, { signal });
          log.info({ node: name, podCIDR }, 'node IPAM: pod CIDR assigned');
        } catch (err) {
          if (signal.aborted) return true;
          ok = false;
          // Changed or deleted since the list, or given a CIDR by someone else: the next round decides again.
          if (isConflict(err) || isNotFound(err) || isInvalid(err)) log.debug({ node: name, err: (err as Error).message }, 'node IPAM: Node changed meanwhile; retrying');
          else log.warn({ node: name, podCIDR, err: err instanceof Error ? err.message : String(err) }, 'node IPAM: cannot write the pod CIDR; retrying');
        }
      }
      return ok;
    } catch (err) {
      if (signal.aborted) return true;
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'node IPAM: cannot list Nodes; retrying');
      return false;
    }
  }
}
