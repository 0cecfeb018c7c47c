// netdelay.test.ts: the delay and loss `tug chaos netem` gives a node where the kernel has no
// netem, for real (root, no cluster). Three network namespaces of the test's own stand for two
// nodes and the host: A and B, each with an eth0 that is one end of a veth pair, and M, whose
// bridge holds the other ends (vA, vB) and has an address of its own, as the host's bridge
// does. applyIptablesNetem and removeLinkNetem act on A's link at its host end, vA in M, as
// they do on a node's. A TCP connect from A waits for one packet out of A (the SYN; the SYN-ACK
// comes back undelayed), so its time grows by A's delay.
// Checked: the delay, to B and to M itself, and its jitter; that a process in A can still send
// in bulk (the reason the delay is at the host end); clearing (no rule left, the delayer ended,
// fast again); the loss rule above the queue rule (with 100% loss nothing reaches the delayer);
// and a killed delayer (packets pass undelayed, clearing still works). Every namespace and
// process made here is removed afterwards, also after a failure. Skipped when not root, when
// the kernel has no NFQUEUE or br_netfilter, or when tug-netdelay is missing (deploy/setup.sh
// compiles it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyIptablesNetem, NETDELAY_BIN, NETEM_COMMENT, removeLinkNetem } from '@tugboat/localcluster';
import type { LinkNetem, NetemLink, NetemSpec } from '@tugboat/localcluster';

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it makes network namespaces)';
  if (!existsSync('/proc/net/netfilter/nfnetlink_queue')) return 'this kernel has no NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE)';
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return 'br_netfilter is not loaded (modprobe br_netfilter)';
  if (!existsSync(NETDELAY_BIN)) return `${NETDELAY_BIN} is missing: run deploy/setup.sh as root`;
  return undefined;
}

const skip = skipReason();
const ns = { a: `tugnd-${process.pid}-a`, m: `tugnd-${process.pid}-m`, b: `tugnd-${process.pid}-b` };
const ip = { a: '10.213.7.1', b: '10.213.7.2', m: '10.213.7.254' };
const port = 7777;
const delayMs = 200;

function sh(argv: readonly string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.status}): ${r.stderr}${r.error?.message ?? ''}`);
  return r.stdout;
}

const inNs = (name: string, argv: readonly string[]): string[] => ['nsenter', `--net=/run/netns/${name}`, '--', ...argv];

/** A client in A, run with node: `done(value)` prints its result. */
function fromA<T>(body: string): T {
  const script = `const net = require('node:net'); const done = (v) => console.log(JSON.stringify(v)); ${body}`;
  return JSON.parse(sh(inNs(ns.a, [process.execPath, '-e', script]))) as T;
}

/** connectMs times `n` TCP connects from A to `host` one after the other, ms each (null: none within timeoutMs). */
function connectMs(host: string, n: number, timeoutMs = 2_000): (number | null)[] {
  return fromA(`(async () => {
    const out = [];
    for (let i = 0; i < ${n}; i++) {
      const t = process.hrtime.bigint();
      out.push(await new Promise((ok) => {
        const s = net.connect({ host: '${host}', port: ${port}, timeout: ${timeoutMs} }, () => { s.destroy(); ok(Number(process.hrtime.bigint() - t) / 1e6); });
        s.on('timeout', () => { s.destroy(); ok(null); });
        s.on('error', () => ok(null));
      }));
    }
    done(out);
  })();`);
}

/** sendMs sends `bytes` from A to B over one TCP connection; B answers with the count it got. */
function sendMs(bytes: number): { got: number; ms: number } {
  return fromA(`const t = Date.now(); let answer = '';
    const s = net.connect({ host: '${ip.b}', port: ${port} }, () => s.end(Buffer.alloc(${bytes})));
    s.on('data', (d) => (answer += d));
    s.on('close', () => done({ got: Number(answer), ms: Date.now() - t }));`);
}

const show = (times: readonly (number | null)[]): string => times.map((ms) => (ms === null ? 'none' : ms.toFixed(2))).join(' ');

function netemRules(): string[] {
  return sh(inNs(ns.m, ['iptables-save', '-t', 'mangle'])).split('\n').filter((l) => l.includes(NETEM_COMMENT));
}

function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

describe('tug-netdelay at the host end of a veth link', { skip, timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-netdelay-'));
  const link: NetemLink = { netnsPath: `/run/netns/${ns.a}`, hostEnd: { netnsPath: `/run/netns/${ns.m}`, port: 'vA' }, queueNum: 101, label: dir, logFile: join(dir, 'netdelay.log') };
  const delayers: number[] = [];
  const listeners: ChildProcess[] = [];
  const apply = async (spec: NetemSpec): Promise<LinkNetem> => {
    const f = await applyIptablesNetem(link, spec);
    if (f.delayer !== undefined) delayers.push(f.delayer.pid);
    return f;
  };
  const lastLogLine = (): string => readFileSync(link.logFile, 'utf8').trim().split('\n').at(-1) ?? '';

  before(async () => {
    for (const n of Object.values(ns)) sh(['ip', 'netns', 'add', n]);
    sh(['ip', '-n', ns.m, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['ip', '-n', ns.m, 'addr', 'add', `${ip.m}/24`, 'dev', 'br0']);
    for (const [end, node, addr] of [['vA', ns.a, ip.a], ['vB', ns.b, ip.b]] as const) {
      sh(['ip', '-n', ns.m, 'link', 'add', end, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node]);
      sh(['ip', '-n', ns.m, 'link', 'set', end, 'master', 'br0', 'up']);
      sh(['ip', '-n', node, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', node, 'link', 'set', 'eth0', 'up']);
    }
    for (const n of Object.values(ns)) sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', ns.m, 'link', 'set', 'br0', 'up']);
    // Bridged frames pass iptables, as on a host with br_netfilter (this namespace only).
    sh(inNs(ns.m, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']));
    // A listener in B and in M: a connection's bytes are counted, and the count is the answer.
    const server = `require('node:net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); s.on('error', () => {}); })`;
    for (const [node, addr] of [[ns.b, ip.b], [ns.m, ip.m]] as const) {
      const p = spawn('nsenter', [`--net=/run/netns/${node}`, '--', process.execPath, '-e', `${server}.listen(${port}, '${addr}', () => console.log('listening'));`], { stdio: ['ignore', 'pipe', 'inherit'] });
      listeners.push(p);
      await new Promise<void>((resolve, reject) => {
        p.stdout!.once('data', () => resolve());
        p.once('exit', (code) => reject(new Error(`the listener in ${node} exited (${code})`)));
      });
    }
  });

  after(() => {
    // Whatever happened above: no delayer, listener, namespace or file of this test may stay.
    for (const pid of delayers) {
      try {
        if (running(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    for (const p of listeners) p.kill('SIGKILL');
    for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'delete', n]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects in well under 50 ms without a fault', (t) => {
    const times = connectMs(ip.b, 5);
    t.diagnostic(`connect ms A to B without a fault: ${show(times)}`);
    for (const ms of times) assert.ok(ms !== null && ms < 50, `connect took ${ms} ms`);
  });

  it('delays what leaves A, to B and to the host alike; clearing leaves no rule, no delayer, no delay', async (t) => {
    const f = await apply({ delayMs, jitterMs: 0, lossPercent: 0 });
    assert.equal(f.via, 'iptables');
    assert.ok(f.delayer !== undefined && running(f.delayer.pid));
    assert.equal(netemRules().length, 1);
    for (const [to, host] of [['B', ip.b], ['the host', ip.m]] as const) {
      const times = connectMs(host, 5);
      t.diagnostic(`connect ms A to ${to} with a ${delayMs} ms delay: ${show(times)}`);
      for (const ms of times) assert.ok(ms !== null && ms >= delayMs && ms < delayMs + 150, `connect to ${to} took ${ms} ms with a ${delayMs} ms delay`);
    }
    await removeLinkNetem(link, f);
    assert.deepEqual(netemRules(), []);
    assert.equal(running(f.delayer.pid), false);
    const cleared = connectMs(ip.b, 5);
    t.diagnostic(`connect ms A to B after clearing: ${show(cleared)}`);
    for (const ms of cleared) assert.ok(ms !== null && ms < 50, `connect took ${ms} ms after clearing`);
    const log = readFileSync(link.logFile, 'utf8');
    assert.match(log, new RegExp(`netdelay: queue 101, delay ${delayMs} ms, jitter 0 ms`));
    assert.match(lastLogLine(), /^netdelay: exit: \d+ packets delayed, 0 socket overruns/);
  });

  it('lets a process in A send in bulk at the pace of the delay, not two segments per delay', async (t) => {
    const f = await apply({ delayMs, jitterMs: 0, lossPercent: 0 });
    try {
      const { got, ms } = sendMs(2_000_000);
      t.diagnostic(`2 MB A to B with a ${delayMs} ms delay: ${ms} ms`);
      assert.equal(got, 2_000_000);
      // TCP's slow start over a 200 ms round trip takes about 1.5 s here; held where A's
      // socket still owns the packets it took more than 35 s.
      assert.ok(ms < 6_000, `2 MB took ${ms} ms`);
    } finally {
      await removeLinkNetem(link, f);
    }
  });

  it('spreads the delay over ±jitter', async (t) => {
    const f = await apply({ delayMs: 100, jitterMs: 50, lossPercent: 0 });
    try {
      const times = connectMs(ip.b, 12).map((ms) => ms ?? Infinity);
      t.diagnostic(`connect ms with 100 ms ±50 ms: ${show(times)}`);
      for (const ms of times) assert.ok(ms >= 50 && ms < 150 + 100, `connect took ${ms} ms with 100 ms ±50 ms`);
      assert.ok(Math.max(...times) - Math.min(...times) > 10, `no spread: ${show(times)}`);
    } finally {
      await removeLinkNetem(link, f);
    }
  });

  it('drops before it delays: the loss rule is above the queue rule', async () => {
    const f = await apply({ delayMs, jitterMs: 0, lossPercent: 100 });
    try {
      const targets = netemRules().map((l) => l.slice(l.indexOf(' -j ') + 4).split(' ')[0]);
      assert.deepEqual(targets, ['DROP', 'NFQUEUE']);
      assert.deepEqual(connectMs(ip.b, 1, 700), [null]);
    } finally {
      await removeLinkNetem(link, f);
    }
    // Everything was dropped before the queue, so the delayer held nothing.
    assert.match(lastLogLine(), /^netdelay: exit: 0 packets delayed/);
  });

  it('passes packets undelayed once the delayer is killed, and still clears', async () => {
    const f = await apply({ delayMs, jitterMs: 0, lossPercent: 0 });
    assert.ok(f.delayer !== undefined);
    process.kill(f.delayer.pid, 'SIGKILL');
    for (let i = 0; i < 100 && running(f.delayer.pid); i++) await sleep(20);
    assert.equal(netemRules().length, 1);
    for (const ms of connectMs(ip.b, 3)) assert.ok(ms !== null && ms < 50, `connect took ${ms} ms with the rule but no delayer`);
    await removeLinkNetem(link, f);
    assert.deepEqual(netemRules(), []);
  });
});
