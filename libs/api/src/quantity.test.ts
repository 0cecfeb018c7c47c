import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareQuantities,
  cpuMillis,
  formatMilliQuantity,
  formatQuantity,
  isQuantityError,
  memoryBytes,
  parseQuantity,
} from '@tugboat/api';

describe('quantities', () => {
  it('parses CPU into millicores, rounding up', () => {
    const cases: [string | number, number][] = [
      ['100m', 100],
      ['0.5', 500],
      ['.5', 500],
      ['1', 1000],
      ['1.', 1000],
      [2, 2000],
      [0.25, 250],
      ['1500m', 1500],
      ['2.5', 2500],
      ['0.0001', 1],
      ['1u', 1],
      ['250000u', 250],
      ['1e3', 1_000_000],
      ['1E-3', 1],
      ['+1', 1000],
      ['0', 0],
      ['0m', 0],
      ['1k', 1_000_000],
    ];
    for (const [text, millis] of cases) assert.equal(cpuMillis(text), millis, String(text));
  });

  it('parses memory into bytes, binary and decimal suffixes', () => {
    const cases: [string | number, number][] = [
      ['128Mi', 134217728],
      ['1Ki', 1024],
      ['1Gi', 1073741824],
      ['1.5Gi', 1610612736],
      ['1G', 1_000_000_000],
      ['1M', 1_000_000],
      ['1k', 1000],
      ['1T', 1e12],
      ['2Ti', 2 * 1024 ** 4],
      ['1Pi', 1024 ** 5],
      ['123', 123],
      [123, 123],
      ['1e6', 1_000_000],
      ['100m', 1],
      ['4030236Ki', 4030236 * 1024],
    ];
    for (const [text, bytes] of cases) assert.equal(memoryBytes(text), bytes, String(text));
  });

  it('gives both whole and milli values', () => {
    assert.deepEqual(parseQuantity('100m'), { value: 1, milliValue: 100 });
    assert.deepEqual(parseQuantity('1.5'), { value: 2, milliValue: 1500 });
    assert.deepEqual(parseQuantity('64Mi'), { value: 67108864, milliValue: 67108864000 });
    assert.deepEqual(parseQuantity('-1'), { value: -1, milliValue: -1000 });
  });

  it('refuses malformed quantities with an error quoting the value', () => {
    for (const bad of ['', 'abc', '1x', '1 Gi', '1mi', '1KiB', '--1', '1.2.3', 'Mi', '1e', '1e999', '1ee3', '0x10', '1,5']) {
      assert.throws(
        () => parseQuantity(bad),
        (e: unknown) => isQuantityError(e) && e.name === 'QuantityError' && e.message.includes(`invalid quantity ${JSON.stringify(bad)}`),
        bad,
      );
    }
    assert.throws(() => cpuMillis(Number.NaN), /invalid quantity NaN/);
    assert.throws(() => memoryBytes('100000Ei'), /too large/);
  });

  it('compares exactly across suffixes', () => {
    assert.equal(compareQuantities('1', '1000m'), 0);
    assert.equal(compareQuantities('1Gi', '1G'), 1);
    assert.equal(compareQuantities('999m', '1'), -1);
    assert.equal(compareQuantities('1024', '1Ki'), 0);
    assert.equal(compareQuantities('0.1', '100m'), 0);
    assert.equal(compareQuantities('1e3', '1k'), 0);
    assert.equal(compareQuantities('-1', '0'), -1);
  });

  it('formats with the largest exact suffix', () => {
    assert.equal(formatQuantity(134217728, 'BinarySI'), '128Mi');
    assert.equal(formatQuantity(3072, 'BinarySI'), '3Ki');
    assert.equal(formatQuantity(1536, 'BinarySI'), '1536');
    assert.equal(formatQuantity(1000, 'BinarySI'), '1000');
    assert.equal(formatQuantity(2_000_000_000), '2G');
    assert.equal(formatQuantity(1500), '1500');
    assert.equal(formatQuantity(0), '0');
    assert.equal(formatQuantity(0.5), '500m');
    assert.equal(formatMilliQuantity(100), '100m');
    assert.equal(formatMilliQuantity(2000), '2');
    assert.equal(formatMilliQuantity(1500), '1500m');
    for (const q of ['128Mi', '3Ki', '2G', '500m', '100m', '2']) {
      const again = q.endsWith('i') ? formatQuantity(memoryBytes(q), 'BinarySI') : formatMilliQuantity(cpuMillis(q));
      assert.equal(again, q);
    }
  });
});
