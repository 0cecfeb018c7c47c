// sampler.test.ts: CPU rates from cumulative counters (over the gap since an earlier reading,
// or over a second reading when there is none), pods grouped from containers, and the parsing
// of /proc/stat, /proc/meminfo and CRI stats.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { cri } from '@tugboat/proto';
import { FIRST_WINDOW_MS, MAX_WINDOW_MS, UsageSampler, cpuRate } from './sampler.ts';
import type { ContainerReading, UsageSources } from './sampler.ts';
import { parseMeminfo, parseProcStat, readContainers, readProcNode } from './sources.ts';

const MS = 1_000_000n;

/** FakeMachine: a clock and counters that grow at set rates (nanocores) as time passes. */
class FakeMachine implements UsageSources {
  clockNs = 1_700_000_000_000n * MS;
  nodeUsedNs = 0n;
  nodeRate = 2_000_000_000n;
  live = new Map<string, { reading: Omit<ContainerReading, 'cpu'>; usedNs: bigint; rate: bigint }>();
  sleeps: number[] = [];
  reads = 0;

  advance(ms: number): void {
    const dt = BigInt(ms) * MS;
    this.clockNs += dt;
    this.nodeUsedNs += (this.nodeRate * dt) / 1_000_000_000n;
    for (const c of this.live.values()) c.usedNs += (c.rate * dt) / 1_000_000_000n;
  }

  add(id: string, namespace: string, pod: string, container: string, rate: bigint): void {
    this.live.set(id, { reading: { id, namespace, pod, podUid: `uid-${pod}`, container, memoryWorkingSetBytes: 1024 * 1024 }, usedNs: 0n, rate });
  }

  async node() {
    return { cpu: { atNs: this.clockNs, usedNs: this.nodeUsedNs }, memoryUsedBytes: 512 * 1024 * 1024 };
  }

  async containers(namespace: string): Promise<ContainerReading[]> {
    return [...this.live.values()]
      .filter((c) => namespace === '' || c.reading.namespace === namespace)
      .map((c) => ({ ...c.reading, cpu: { atNs: this.clockNs, usedNs: c.usedNs } }));
  }

  nowNs = () => this.clockNs;

  sleep = async (ms: number) => {
    this.sleeps.push(ms);
    this.advance(ms);
  };
}

function sources(m: FakeMachine): UsageSources {
  return { node: () => m.node(), containers: (ns) => m.containers(ns), nowNs: m.nowNs, sleep: m.sleep };
}

describe('UsageSampler', () => {
  test('the first call measures over a second reading FIRST_WINDOW_MS later', async () => {
    const m = new FakeMachine();
    m.add('c1', 'default', 'web', 'app', 250_000_000n);
    m.add('c2', 'default', 'web', 'sidecar', 10_000_000n);
    m.add('c3', 'other', 'db', 'db', 1_000_000_000n);
    const s = new UsageSampler(sources(m));
    const r = await s.sample('');
    assert.deepEqual(m.sleeps, [FIRST_WINDOW_MS]);
    assert.deepEqual(r.node, { cpuNanoCores: 2_000_000_000, cpuWindowMs: FIRST_WINDOW_MS, memoryUsedBytes: 512 * 1024 * 1024 });
    assert.deepEqual(
      r.pods.map((p) => [p.namespace, p.name, p.uid, p.containers.map((c) => [c.name, c.cpuNanoCores])]),
      [
        ['default', 'web', 'uid-web', [['app', 250_000_000], ['sidecar', 10_000_000]]],
        ['other', 'db', 'uid-db', [['db', 1_000_000_000]]],
      ],
    );
  });

  test('later calls measure over the gap since the previous reading, without waiting', async () => {
    const m = new FakeMachine();
    m.add('c1', 'default', 'web', 'app', 100_000_000n);
    const s = new UsageSampler(sources(m));
    await s.sample('');
    m.advance(10_000);
    m.live.get('c1')!.rate = 300_000_000n;
    m.advance(10_000);
    const r = await s.sample('');
    assert.deepEqual(m.sleeps, [FIRST_WINDOW_MS]);
    assert.equal(r.node.cpuWindowMs, 20_000);
    assert.equal(r.pods[0]!.containers[0]!.cpuNanoCores, 200_000_000, 'the average over the 20 s since the last reading');
  });

  test('a call right after another measures over the earlier reading, not the few ms between', async () => {
    const m = new FakeMachine();
    m.add('c1', 'default', 'web', 'app', 100_000_000n);
    const s = new UsageSampler(sources(m));
    await s.sample('');
    m.advance(5_000);
    await s.sample('');
    m.advance(10);
    const r = await s.sample('');
    assert.equal(m.sleeps.length, 1);
    assert.equal(r.node.cpuWindowMs, 5_010);
  });

  test('a container new since the last reading makes the call take a second reading; the namespace filter holds', async () => {
    const m = new FakeMachine();
    m.add('c1', 'default', 'web', 'app', 100_000_000n);
    const s = new UsageSampler(sources(m));
    await s.sample('');
    m.advance(3_000);
    m.add('c9', 'other', 'db', 'db', 500_000_000n);
    let r = await s.sample('default');
    assert.equal(m.sleeps.length, 1, 'the other namespace is not read');
    assert.deepEqual(r.pods.map((p) => p.name), ['web']);
    r = await s.sample('');
    assert.equal(m.sleeps.length, 2);
    assert.equal(r.pods.find((p) => p.name === 'db')!.containers[0]!.cpuNanoCores, 500_000_000);
  });

  test('readings older than MAX_WINDOW_MS are forgotten', async () => {
    const m = new FakeMachine();
    const s = new UsageSampler(sources(m));
    await s.sample('');
    m.advance(MAX_WINDOW_MS + 1_000);
    await s.sample('');
    assert.equal(m.sleeps.length, 2);
  });

  test('a container that appears between the two readings has no rate yet', async () => {
    const m = new FakeMachine();
    const s = new UsageSampler({
      ...sources(m),
      sleep: async (ms) => {
        await m.sleep(ms);
        m.add('late', 'default', 'web', 'app', 1n);
      },
    });
    const r = await s.sample('');
    assert.equal(r.pods[0]!.containers[0]!.cpuNanoCores, undefined);
    assert.equal(r.pods[0]!.containers[0]!.memoryWorkingSetBytes, 1024 * 1024);
  });

  test('cpuRate refuses windows shorter than MIN_WINDOW_MS and counters that went back', () => {
    assert.equal(cpuRate({ atNs: 0n, usedNs: 0n }, { atNs: 100n * MS, usedNs: 50n * MS }), undefined);
    assert.equal(cpuRate({ atNs: 0n, usedNs: 10n }, { atNs: 1000n * MS, usedNs: 5n }), undefined);
    assert.equal(cpuRate({ atNs: 0n, usedNs: 0n }, { atNs: 1000n * MS, usedNs: 1500n * MS }), 1_500_000_000);
  });
});

describe('usage sources', () => {
  test('parseProcStat sums the busy ticks of the cpu line into nanoseconds', () => {
    const text = 'cpu  100 20 30 5000 40 5 6 7 50 0\ncpu0 1 2 3 4 5 6 7 8 9 0\nintr 1\n';
    assert.equal(parseProcStat(text), (100n + 20n + 30n + 5n + 6n + 7n) * 10_000_000n);
    assert.throws(() => parseProcStat('intr 1\n'), /no "cpu" line/);
  });

  test('parseMeminfo is MemTotal less MemAvailable', () => {
    assert.equal(parseMeminfo('MemTotal:       16000 kB\nMemFree:   100 kB\nMemAvailable:    6000 kB\n'), 10000 * 1024);
    assert.throws(() => parseMeminfo('MemTotal:       16000 kB\n'), /no MemAvailable line/);
  });

  test('readProcNode reads a proc directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-stats-proc-'));
    try {
      writeFileSync(join(dir, 'stat'), 'cpu  1 0 1 0 0 0 0 0 0 0\n');
      writeFileSync(join(dir, 'meminfo'), 'MemTotal: 2048 kB\nMemAvailable: 1024 kB\n');
      const r = await readProcNode(dir);
      assert.equal(r.cpu.usedNs, 20_000_000n);
      assert.equal(r.memoryUsedBytes, 1024 * 1024);
      assert.ok(r.cpu.atNs > 1_600_000_000_000n * MS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('readContainers keeps the running containers tug-agent made, named by their labels', async () => {
    const labels = (pod: string, container: string) => ({
      'tugboat.io/managed': 'true',
      'tugboat.io/pod-namespace': 'default',
      'tugboat.io/pod-name': pod,
      'tugboat.io/pod-uid': `uid-${pod}`,
      'tugboat.io/container-name': container,
    });
    const stat = (id: string, pod: string, container: string, cpu?: bigint) =>
      create(cri.ContainerStatsSchema, {
        attributes: { id, labels: labels(pod, container) },
        ...(cpu === undefined ? {} : { cpu: { timestamp: 5n, usageCoreNanoSeconds: { value: cpu } } }),
        memory: { workingSetBytes: { value: 4096n } },
      });
    const calls: unknown[] = [];
    const runtime = {
      async listContainerStats(filter?: unknown) {
        calls.push(filter);
        return [stat('run', 'web', 'app', 77n), stat('exited', 'web', 'app', 1n), stat('nocpu', 'web', 'side')];
      },
      async listContainers(filter?: unknown) {
        calls.push(filter);
        return [create(cri.ContainerSchema, { id: 'run' }), create(cri.ContainerSchema, { id: 'nocpu' })];
      },
    };
    const got = await readContainers(runtime, 'default');
    assert.deepEqual(got, [
      { id: 'run', namespace: 'default', pod: 'web', podUid: 'uid-web', container: 'app', cpu: { atNs: 5n, usedNs: 77n }, memoryWorkingSetBytes: 4096 },
      { id: 'nocpu', namespace: 'default', pod: 'web', podUid: 'uid-web', container: 'side', cpu: undefined, memoryWorkingSetBytes: 4096 },
    ]);
    const selector = { 'tugboat.io/managed': 'true', 'tugboat.io/pod-namespace': 'default' };
    assert.deepEqual(calls, [{ labelSelector: selector }, { labelSelector: selector, state: { state: cri.ContainerState.CONTAINER_RUNNING } }]);
  });
});
