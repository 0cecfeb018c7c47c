import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseIPv4,
  formatIPv4,
  parseCidr,
  formatCidr,
  cidrContains,
  cidrsOverlap,
  podCidrFor,
  allocatePodCidr,
  allocateClusterIP,
  isReservedClusterIP,
  gatewayOf,
} from '@tugboat/netconf';

test('IPv4 parse/format round-trips and rejects bad input with clear errors', () => {
  assert.equal(parseIPv4('10.244.1.2'), 0x0af40102);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(formatIPv4(0xffffffff), '255.255.255.255');
  assert.equal(formatIPv4(parseIPv4('192.168.0.1')), '192.168.0.1');
  assert.throws(() => parseIPv4('10.0.0'), /expected 4 dot-separated octets/);
  assert.throws(() => parseIPv4('10.0.0.256'), /greater than 255/);
  assert.throws(() => parseIPv4('10.0.0.01'), /leading zeros/);
  assert.throws(() => parseIPv4('10.0.0.-1'), /not a decimal/);
  assert.throws(() => formatIPv4(2 ** 32), /must be an integer/);
});

test('CIDR parse requires a prefix 0-32 and zero host bits', () => {
  assert.deepEqual(parseCidr('10.244.3.0/24'), { base: 0x0af40300, prefix: 24 });
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
  assert.throws(() => parseCidr('10.244.3.0'), /missing "\/prefix"/);
  assert.throws(() => parseCidr('10.244.3.0/33'), /prefix length "33"/);
  assert.throws(() => parseCidr('10.244.3.5/24'), /host bits are set \(did you mean 10\.244\.3\.0\/24\?\)/);
  assert.throws(() => parseCidr('10.244.3/24'), /invalid CIDR "10.244.3\/24"/);
  assert.ok(cidrContains(parseCidr('10.244.3.0/24'), '10.244.3.255'));
  assert.ok(!cidrContains(parseCidr('10.244.3.0/24'), '10.244.4.0'));
  assert.ok(cidrsOverlap(parseCidr('10.244.0.0/16'), parseCidr('10.244.9.0/24')));
  assert.ok(!cidrsOverlap(parseCidr('10.244.8.0/24'), parseCidr('10.244.9.0/24')));
  assert.equal(gatewayOf('10.244.7.0/24'), '10.244.7.1');
});

test('podCidrFor maps index N to 10.244.N.0/24 within range', () => {
  assert.equal(podCidrFor(0), '10.244.0.0/24');
  assert.equal(podCidrFor(255), '10.244.255.0/24');
  assert.throws(() => podCidrFor(256), /out of range/);
  assert.throws(() => podCidrFor(1.5), /out of range/);
});

test('allocatePodCidr picks the lowest free /24, honours overlaps, and reports exhaustion', () => {
  assert.equal(allocatePodCidr([]), '10.244.0.0/24');
  assert.equal(allocatePodCidr(['10.244.0.0/24', '10.244.2.0/24']), '10.244.1.0/24');
  // A larger block taken covers several /24s.
  assert.equal(allocatePodCidr(['10.244.0.0/23']), '10.244.2.0/24');
  // CIDRs outside the pod network do not count.
  assert.equal(allocatePodCidr(['192.168.0.0/24']), '10.244.0.0/24');
  const all = Array.from({ length: 256 }, (_, i) => podCidrFor(i));
  assert.throws(() => allocatePodCidr(all), /exhausted/);
  assert.throws(() => allocatePodCidr(['bogus']), /invalid CIDR/);
});

test('allocateClusterIP skips network, .1 (API), .10 (DNS), broadcast and taken addresses', () => {
  assert.equal(allocateClusterIP([]), '10.96.0.2');
  assert.equal(allocateClusterIP(['10.96.0.2', '10.96.0.3']), '10.96.0.4');
  const taken = new Set<string>();
  for (let i = 2; i <= 9; i++) taken.add(`10.96.0.${i}`);
  assert.equal(allocateClusterIP(taken), '10.96.0.11');
  for (const ip of ['10.96.0.0', '10.96.0.1', '10.96.0.10', '10.96.255.255']) assert.ok(isReservedClusterIP(ip), ip);
  assert.ok(!isReservedClusterIP('10.96.0.2'));
  const full = new Set<string>();
  for (let off = 2; off < 65535; off++) full.add(formatIPv4(parseIPv4('10.96.0.0') + off));
  assert.throws(() => allocateClusterIP(full), /exhausted/);
});
