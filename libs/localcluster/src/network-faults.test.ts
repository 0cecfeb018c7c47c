// Unit tests of the network faults' commands (pure): the drops of a partition, the flags'
// durations and percentages, netem by tc, and netem by iptables with tug-netdelay at the host
// end of a node's link, whose rules must leave the chain in the order loss, then delay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rulesFromPorts } from './iptables.ts';
import {
  bridgeFilterCommand,
  checkNetemSpec,
  delayerCommand,
  describeNetem,
  dropCommand,
  linkDrops,
  lossRuleCommand,
  NETDELAY_BIN,
  netemClearCommand,
  netemQdiscCommand,
  netemQueueNum,
  netemRuleCommands,
  netemRuleRemovals,
  parseMs,
  parsePercent,
  queueReader,
  queueRuleCommand,
} from './network-faults.ts';

const node = { netnsPath: '/run/netns/tug-x-node-2' };
const nsenter = ['nsenter', '--net=/run/netns/tug-x-node-2', '--'];
/** The host end of node-2's link: on the host (no nsenter), and on a bridge in a test's namespace. */
const hostEnd = { port: 'tv-x-2' };
const testEnd = { netnsPath: '/run/netns/t-m', port: 'vA' };
const macOf = (n: string): string => `02:00:00:00:00:0${n.slice(-1)}`;

/** chainAfter plays `iptables -I CHAIN SPEC` / `-D CHAIN SPEC` commands on a chain, top first, and returns each rule's target. */
function chainAfter(cmds: readonly string[][], chain: string[][] = []): string[] {
  for (const cmd of cmds) {
    const at = cmd.findIndex((w) => w === '-I' || w === '-D');
    const spec = cmd.slice(at + 2);
    if (cmd[at] === '-I') chain.unshift(spec);
    else chain.splice(chain.findIndex((r) => r.join(' ') === spec.join(' ')), 1);
  }
  return chain.map((r) => r[r.indexOf('-j') + 1]!);
}

describe('linkDrops', () => {
  it('drops both ways by default, each where the packet arrives', () => {
    assert.deepEqual(linkDrops(['node-1'], ['node-2', 'node-3'], false, macOf), [
      { node: 'node-1', from: 'node-2', mac: '02:00:00:00:00:02' },
      { node: 'node-2', from: 'node-1', mac: '02:00:00:00:00:01' },
      { node: 'node-1', from: 'node-3', mac: '02:00:00:00:00:03' },
      { node: 'node-3', from: 'node-1', mac: '02:00:00:00:00:01' },
    ]);
  });
  it('drops only what the nodes receive when one way', () => {
    assert.deepEqual(linkDrops(['node-1', 'node-2'], ['node-3'], true, macOf), [
      { node: 'node-1', from: 'node-3', mac: '02:00:00:00:00:03' },
      { node: 'node-2', from: 'node-3', mac: '02:00:00:00:00:03' },
    ]);
  });
  it('refuses an empty side and a node on both sides', () => {
    assert.throws(() => linkDrops([], ['node-2'], false, macOf), /at least one node/);
    assert.throws(() => linkDrops(['node-1'], [], false, macOf), /nothing to cut node-1 off from/);
    assert.throws(() => linkDrops(['node-1', 'node-2'], ['node-2', 'node-3'], false, macOf), /node-2 cannot be on both sides/);
  });
  it('matches the sender by MAC in raw PREROUTING of the receiver', () => {
    assert.deepEqual(dropCommand(node, '02:00:00:00:00:01'), [
      ...nsenter, 'iptables', '-w', '5', '-t', 'raw', '-I',
      'PREROUTING', '-i', 'eth0', '-m', 'mac', '--mac-source', '02:00:00:00:00:01', '-m', 'comment', '--comment', 'tug-chaos:partition', '-j', 'DROP',
    ]);
    assert.equal(dropCommand(node, '02:00:00:00:00:01', true)[nsenter.length + 5], '-D');
  });
});

describe('parseMs and parsePercent', () => {
  it('reads milliseconds, seconds and bare numbers', () => {
    assert.equal(parseMs('200ms', '--delay'), 200);
    assert.equal(parseMs('1.5s', '--delay'), 1_500);
    assert.equal(parseMs(' 20 ', '--jitter'), 20);
    assert.equal(parseMs('0.4', '--jitter'), 0);
  });
  it('refuses other text, naming the flag', () => {
    for (const bad of ['', '-1ms', '200us', 'ms', '1m']) assert.throws(() => parseMs(bad, '--delay'), /--delay must be a duration/);
  });
  it('reads percentages from 0 to 100', () => {
    assert.equal(parsePercent('10%', '--loss'), 10);
    assert.equal(parsePercent('0.5', '--loss'), 0.5);
    assert.equal(parsePercent('100%', '--loss'), 100);
    for (const bad of ['101%', '-1', 'ten', '']) assert.throws(() => parsePercent(bad, '--loss'), /--loss must be a percentage/);
  });
});

describe('netem by tc', () => {
  it('replaces the root qdisc with delay, jitter and loss', () => {
    assert.deepEqual(netemQdiscCommand(node, { delayMs: 200, jitterMs: 20, lossPercent: 10 }), [...nsenter, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', '200ms', '20ms', 'loss', '10%']);
    assert.deepEqual(netemQdiscCommand(node, { delayMs: 0, jitterMs: 0, lossPercent: 5 }).slice(nsenter.length + 7), ['loss', '5%']);
    assert.deepEqual(netemClearCommand(node), [...nsenter, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  });
  it('refuses a spec netem cannot do, naming the flag', () => {
    assert.throws(() => checkNetemSpec({ delayMs: 0, jitterMs: 0, lossPercent: 0 }), /needs a delay or a loss/);
    assert.throws(() => checkNetemSpec({ delayMs: 0, jitterMs: 5, lossPercent: 10 }), /--jitter varies a delay/);
    assert.throws(() => checkNetemSpec({ delayMs: 10, jitterMs: 20, lossPercent: 0 }), /--jitter \(20 ms\) must not exceed --delay \(10 ms\)/);
    checkNetemSpec({ delayMs: 200, jitterMs: 200, lossPercent: 0 });
  });
});

describe('netem by iptables and tug-netdelay', () => {
  it("drops a share of what arrives from the node's host veth with the statistic match", () => {
    assert.deepEqual(lossRuleCommand(hostEnd, 10), [
      'iptables', '-w', '5', '-t', 'mangle', '-I', 'PREROUTING', '-m', 'physdev', '--physdev-in', 'tv-x-2',
      '-m', 'statistic', '--mode', 'random', '--probability', '0.1000', '-m', 'comment', '--comment', 'tug-chaos:netem', '-j', 'DROP',
    ]);
  });
  it("queues what arrives from it to the node's queue, passing it while nothing reads the queue", () => {
    assert.deepEqual(queueRuleCommand(hostEnd, 1472), [
      'iptables', '-w', '5', '-t', 'mangle', '-I', 'PREROUTING', '-m', 'physdev', '--physdev-in', 'tv-x-2',
      '-m', 'comment', '--comment', 'tug-chaos:netem', '-j', 'NFQUEUE', '--queue-num', '1472', '--queue-bypass',
    ]);
    assert.deepEqual(queueRuleCommand(testEnd, 101, true).slice(0, 10), ['nsenter', '--net=/run/netns/t-m', '--', 'iptables', '-w', '5', '-t', 'mangle', '-D', 'PREROUTING']);
  });
  it('gives each node of each cluster a queue of its own on the host', () => {
    assert.equal(netemQueueNum('172.29.47.0/24', 2), 1472);
    assert.equal(netemQueueNum('172.29.0.0/24', 1), 1001);
    assert.equal(netemQueueNum('172.29.255.0/24', 9), 3559);
    assert.throws(() => netemQueueNum('172.29.47.0/24', 10), /no NFQUEUE queue for node 10/);
    assert.throws(() => netemQueueNum('bad', 1), /of subnet bad/);
  });
  it('leaves the loss rule above the queue rule, whatever the chain held', () => {
    const f = { delayMs: 200, lossPercent: 10 };
    assert.deepEqual(chainAfter(netemRuleCommands(hostEnd, f, 1472), [['-j', 'MARK']]), ['DROP', 'NFQUEUE', 'MARK']);
    assert.deepEqual(chainAfter(netemRuleCommands(hostEnd, { delayMs: 200, lossPercent: 0 }, 1472)), ['NFQUEUE']);
    assert.deepEqual(chainAfter(netemRuleCommands(hostEnd, { delayMs: 0, lossPercent: 10 }, 1472)), ['DROP']);
  });
  it('removes exactly the rules it added', () => {
    for (const f of [{ delayMs: 200, lossPercent: 10 }, { delayMs: 200, lossPercent: 0 }, { delayMs: 0, lossPercent: 10 }]) {
      assert.deepEqual(chainAfter([...netemRuleCommands(hostEnd, f, 1472), ...netemRuleRemovals(hostEnd, f, 1472)], [['-j', 'MARK']]), ['MARK']);
    }
  });
  it("runs the delayer where the rules are, naming the node's directory", () => {
    assert.deepEqual(delayerCommand(hostEnd, { delayMs: 200, jitterMs: 20 }, 1472, '/var/lib/tugboat/clusters/x/node-2'), [
      NETDELAY_BIN, '--queue', '1472', '--delay', '200', '--jitter', '20', '--label', '/var/lib/tugboat/clusters/x/node-2',
    ]);
    assert.deepEqual(delayerCommand(testEnd, { delayMs: 200, jitterMs: 0 }, 101, '/tmp/t').slice(0, 4), ['nsenter', '--net=/run/netns/t-m', '--', NETDELAY_BIN]);
  });
  it('asks br_netfilter whether iptables sees bridged frames', () => {
    assert.deepEqual(bridgeFilterCommand(hostEnd), ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']);
  });
  it("finds the rules on one cluster's veths, not another's", () => {
    const rules = [
      { table: 'mangle', chain: 'PREROUTING', spec: ['-m', 'physdev', '--physdev-in', 'tv-x-2', '-j', 'DROP'] },
      { table: 'mangle', chain: 'PREROUTING', spec: ['-m', 'physdev', '--physdev-in', 'tv-x2-1', '-j', 'DROP'] },
      { table: 'mangle', chain: 'PREROUTING', spec: ['-i', 'tv-x-3', '-j', 'DROP'] },
    ];
    assert.deepEqual(rulesFromPorts(rules, 'tv-x-'), [rules[0]]);
  });
  it('finds the reader of a queue in /proc/net/netfilter/nfnetlink_queue', () => {
    const text = '  101  16373     0 1     0     0     0        0  1\n 1472   4242     3 1     0     0     0       17  1\n';
    assert.equal(queueReader(text, 1472), 4242);
    assert.equal(queueReader(text, 103), undefined);
    assert.equal(queueReader('', 101), undefined);
  });
  it('says how the fault is done', () => {
    assert.equal(describeNetem({ delayMs: 200, jitterMs: 20, lossPercent: 10, via: 'tc' }), 'delay 200ms ±20ms, loss 10% on what leaves eth0 (tc netem)');
    assert.equal(
      describeNetem({ delayMs: 200, jitterMs: 0, lossPercent: 10, via: 'iptables' }),
      'delay 200ms, loss 10% on what leaves eth0 (iptables at the host end of the link: statistic-match loss, NFQUEUE delay by tug-netdelay; this kernel has no netem)',
    );
    assert.equal(
      describeNetem({ delayMs: 0, jitterMs: 0, lossPercent: 5, via: 'iptables' }),
      'loss 5% on what leaves eth0 (iptables at the host end of the link: statistic-match loss; this kernel has no netem)',
    );
  });
});
