import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng } from '@tugboat/testing';
import { parseDuration, parseScenario } from './scenario.ts';
import { faultOfRound, planFault, targetNodes } from './schedule.ts';
import type { ClusterView } from './schedule.ts';

const shipped = fileURLToPath(new URL('../../../test/chaos/scenarios/', import.meta.url));

describe('scenario files', () => {
  it('reads every shipped scenario', () => {
    const names = readdirSync(shipped).filter((f) => f.endsWith('.yaml'));
    assert.equal(names.length, 7);
    for (const f of names) {
      const s = parseScenario(readFileSync(`${shipped}${f}`, 'utf8'), f);
      assert.equal(`${s.name}.yaml`, f, 'the file is named after its scenario');
      assert.ok(s.durationMs >= 30_000 && s.durationMs <= 90_000, `${f}: a short form`);
    }
  });

  it('fills in defaults', () => {
    const s = parseScenario('name: x\nduration: 1m\nrounds: [{fault: kill-leader, hold: 5s}]\n', 'x.yaml');
    assert.equal(s.durationMs, 60_000);
    assert.equal(s.rounds[0]!.target, 'leader');
    assert.deepEqual(s.availability, { steady: 99, fault: 80, recovering: 80 });
    assert.deepEqual(s.workload, { replicas: 3, writers: 3, keys: 4 });
    assert.equal(s.recoverWithinMs, 60_000);
    assert.equal(s.order, 'cycle');
  });

  it('refuses a bad file naming the field', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => parseScenario(text, 'f.yaml'), re);
    const base = 'name: x\nduration: 10s\n';
    bad('name: [', /f.yaml: \(file\): not YAML/);
    bad(`${base}rounds: []`, /f.yaml: rounds: must be a list of at least one fault/);
    bad(`${base}rounds: [{fault: explode, hold: 1s}]`, /rounds\[0\]\.fault: must be one of kill-node/);
    bad(`${base}rounds: [{fault: kill-leader, target: any, hold: 1s}]`, /rounds\[0\]\.target: kill-leader always hits the leader/);
    bad(`${base}rounds: [{fault: kill-node, target: any}]`, /rounds\[0\]\.hold: must be a duration/);
    bad(`${base}rounds: [{fault: restart-node, target: any, hold: 2s}]`, /rounds\[0\]\.hold: restart-node acts at once/);
    bad(`${base}rounds: [{fault: kill-node, target: any, hold: 1s, loss: 5%}]`, /rounds\[0\]\.loss: belongs to a netem fault/);
    bad(`${base}rounds: [{fault: kill-node, target: any, hold: 1s, oneWay: true}]`, /rounds\[0\]\.oneWay: belongs to a partition/);
    bad(`${base}rounds: [{fault: netem, target: all, hold: 1s}]`, /rounds\[0\]: a netem fault needs a delay or a loss/);
    bad(`${base}rounds: [{fault: netem, target: all, hold: 1s, loss: 150%}]`, /rounds\[0\]\.loss: must be a percentage/);
    bad(`${base}speed: 3\nrounds: [{fault: kill-leader, hold: 1s}]`, /f.yaml: speed: unknown field/);
    bad(`${base}availability: {steady: 101}\nrounds: [{fault: kill-leader, hold: 1s}]`, /availability\.steady: must be a percentage from 0 to 100/);
    bad('name: Bad_Name\nduration: 1s\nrounds: [{fault: kill-leader, hold: 1s}]', /f.yaml: name: must be/);
  });

  it('reads durations', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('30'), undefined);
  });
});

describe('rounds and targets', () => {
  const view: ClusterView = {
    nodes: [
      { name: 'node-1', control: true },
      { name: 'node-2', control: true },
      { name: 'node-3', control: true },
      { name: 'node-4', control: false },
    ],
    leader: 'node-2',
    soloNode: 'node-3',
  };
  const scenario = (rounds: string, order = 'cycle') => parseScenario(`name: x\nduration: 1m\norder: ${order}\nrounds: ${rounds}\n`, 'x.yaml');

  it('resolves each target against the cluster', () => {
    const s = scenario('[{fault: kill-node, target: leader, hold: 1s}]');
    const at = (target: string, round = 0) => targetNodes({ ...s.rounds[0]!, target: target as never }, round, view, new Rng(1));
    assert.deepEqual(at('leader'), ['node-2']);
    assert.ok(['node-1', 'node-3'].includes(at('follower')[0]!));
    assert.deepEqual(at('worker'), ['node-4']);
    assert.deepEqual(at('solo'), ['node-3']);
    assert.deepEqual(at('all'), ['node-1', 'node-2', 'node-3', 'node-4']);
    assert.equal(at('minority').length, 1);
    assert.equal(at('majority').length, 2);
    assert.ok(at('majority').every((n) => n !== 'node-4'), 'only control members');
    assert.deepEqual([0, 1, 2, 3].map((r) => at('next-control', r)[0]), ['node-1', 'node-2', 'node-3', 'node-1']);
    assert.throws(() => targetNodes(s.rounds[0]!, 0, { ...view, leader: undefined }, new Rng(1)), /no leader is known/);
  });

  it('plans a partition with its other side, and asks the service from a node the fault spares', () => {
    const s = scenario('[{fault: partition, target: leader, hold: 5s}, {fault: partition, target: majority, each: true, hold: 5s}, {fault: partition, target: {node: node-4}, from: control, oneWay: true, hold: 5s}]');
    const rng = new Rng(7);
    const p0 = planFault(faultOfRound(s, 0, rng), 0, view, rng);
    assert.deepEqual([p0.nodes, p0.from], [['node-2'], ['node-1', 'node-3', 'node-4']]);
    assert.notEqual(p0.clientNode, 'node-2');
    const p1 = planFault(faultOfRound(s, 1, rng), 1, view, rng);
    assert.equal(p1.nodes.length, 2);
    assert.deepEqual(p1.from, ['node-1', 'node-2', 'node-3', 'node-4'], 'each: cut off from every other node');
    assert.ok(!p1.nodes.includes(p1.clientNode));
    const p2 = planFault(faultOfRound(s, 2, rng), 2, view, rng);
    assert.deepEqual([p2.nodes, p2.from, p2.label], [['node-4'], ['node-1', 'node-2', 'node-3'], 'node-4 from node-1,node-2,node-3 (one way)']);
  });

  it('draws the same rounds from the same seed', () => {
    const s = scenario('[{fault: kill-leader, hold: 1s}, {fault: pause-node, target: any, hold: 1s}, {fault: kill-node, target: worker, hold: 1s}]', 'random');
    const draw = (seed: number) => {
      const rng = Rng.forStream(seed, 'faults');
      return Array.from({ length: 12 }, (_, i) => {
        const p = planFault(faultOfRound(s, i, rng), i, view, rng);
        return `${p.fault.action} ${p.label}`;
      });
    };
    assert.deepEqual(draw(5), draw(5));
    assert.notDeepEqual(draw(5), draw(6));
    assert.equal(new Set(draw(5).map((d) => d.split(' ')[0])).size, 3, 'every fault drawn in 12 rounds');
  });
});
