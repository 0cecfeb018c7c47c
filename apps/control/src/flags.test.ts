import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOP_NAMES, NODE_IPAM } from './controllers.ts';
import { FlagError, parseFlags, parseHostPort } from './flags.ts';

const base = ['--name', 'c1', '--data-dir', '/tmp/x', '--insecure-plaintext'];

test('defaults: loopback, ports 7401/7400, tick 50 ms, election 10 ticks', () => {
  const f = parseFlags(base);
  assert.equal(f.listenPeer, '127.0.0.1:7401');
  assert.equal(f.listenApi, '127.0.0.1:7400');
  assert.equal(f.advertisePeer, '127.0.0.1:7401');
  assert.equal(f.tickMs, 50);
  assert.equal(f.electionTicks, 10);
  assert.equal(f.initialCluster, undefined);
});

test('TLS: the CA, certificate and key files together, or --insecure-plaintext alone', () => {
  const named = ['--name', 'c1', '--data-dir', '/tmp/x'];
  const files = ['--ca-file', '/p/ca.crt', '--cert-file', '/p/c1.crt', '--key-file', '/p/c1.key'];
  assert.deepEqual(parseFlags([...named, ...files]).transport, { tls: { caFile: '/p/ca.crt', certFile: '/p/c1.crt', keyFile: '/p/c1.key' } });
  assert.deepEqual(parseFlags([...named, '--insecure-plaintext']).transport, { insecurePlaintext: true });
  const refused = (args: string[], flag: string, message: RegExp): void =>
    assert.throws(() => parseFlags([...named, ...args]), (e: unknown) => e instanceof FlagError && e.flag === flag && message.test(e.message));
  refused([], 'ca-file', /is required: TLS needs --ca-file, --cert-file and --key-file \(or --insecure-plaintext/);
  refused(files.slice(0, 4), 'key-file', /is required/);
  refused([...files, '--insecure-plaintext'], 'insecure-plaintext', /cannot be combined with --ca-file/);
  // Joining with a token: the hash comes with it, and --join says where.
  const token = ['--token', 'abcdef.0123456789abcdef', '--ca-hash', `sha256:${'a'.repeat(64)}`];
  assert.deepEqual(parseFlags([...named, ...files, ...token, '--join', '127.0.0.1:7400']).transport, {
    tls: { caFile: '/p/ca.crt', certFile: '/p/c1.crt', keyFile: '/p/c1.key' },
    bootstrap: { token: 'abcdef.0123456789abcdef', caHash: `sha256:${'a'.repeat(64)}` },
  });
  refused([...files, ...token], 'token', /needs --join APIADDR/);
  refused([...files, '--token', 'abcdef.0123456789abcdef', '--join', '127.0.0.1:7400'], 'ca-hash', /is required with --token/);
  refused([...files, '--token', 'nope', '--ca-hash', `sha256:${'a'.repeat(64)}`], 'token', /the form is ID\.SECRET/);
  refused(['--insecure-plaintext', '--ca-key-file', '/p/ca.key'], 'ca-key-file', /cannot be combined with --insecure-plaintext/);
});

test('bounds and certificate life: defaults, and each given', () => {
  const f = parseFlags(['--name', 'c1', '--data-dir', '/tmp/x', '--insecure-plaintext']);
  assert.deepEqual([f.maxObjectsPerNamespace, f.maxRequestsPerClient, f.maxWatchesPerClient, f.certificateDays], [100_000, 200, 500, 365]);
  const g = parseFlags(['--name', 'c1', '--data-dir', '/tmp/x', '--insecure-plaintext', '--max-objects-per-namespace', '9', '--max-requests-per-client', '8', '--max-watches-per-client', '7', '--certificate-days', '30']);
  assert.deepEqual([g.maxObjectsPerNamespace, g.maxRequestsPerClient, g.maxWatchesPerClient, g.certificateDays], [9, 8, 7, 30]);
  assert.throws(() => parseFlags(['--name', 'c1', '--data-dir', '/tmp/x', '--insecure-plaintext', '--certificate-days', '0']), /--certificate-days: must be a whole number from 1 to 3650/);
});

test('node lifecycle settings: grace 5 s and eviction 1 s unless given; eviction 0 is allowed', () => {
  const d = parseFlags(base);
  assert.equal(d.nodeMonitorGraceSeconds, 5);
  assert.equal(d.defaultEvictionSeconds, 1);
  const f = parseFlags([...base, '--node-monitor-grace', '40', '--default-eviction-seconds', '0']);
  assert.equal(f.nodeMonitorGraceSeconds, 40);
  assert.equal(f.defaultEvictionSeconds, 0);
});

test('--controllers: every loop by default, NAME adds, -NAME leaves out, unknown names refused', () => {
  assert.deepEqual([...parseFlags(base).controllers].sort(), [...LOOP_NAMES].sort());
  const f = parseFlags([...base, '--controllers', '*,-scheduler,-node-ipam']);
  assert.deepEqual([...f.controllers].sort(), LOOP_NAMES.filter((n) => n !== 'scheduler' && n !== NODE_IPAM).sort());
  assert.deepEqual([...parseFlags([...base, '--controllers', 'scheduler']).controllers], ['scheduler']);
  assert.throws(() => parseFlags([...base, '--controllers', '*,-shceduler']), (e: unknown) => e instanceof FlagError && e.flag === 'controllers' && /unknown loop "shceduler"; the loops are scheduler, /.test(e.message));
});

test('--encryption-key-file: none by default (Secrets in clear), else its path', () => {
  assert.equal(parseFlags(base).encryptionKeyFile, undefined);
  assert.equal(parseFlags([...base, '--encryption-key-file', '/p/keys.yaml']).encryptionKeyFile, '/p/keys.yaml');
});

test('--initial-cluster gives this member its peer address', () => {
  const f = parseFlags([...base, '--initial-cluster', 'c1=127.0.0.2:9001,c2=127.0.0.3']);
  assert.deepEqual(f.initialCluster, [
    { name: 'c1', peerAddress: '127.0.0.2:9001' },
    { name: 'c2', peerAddress: '127.0.0.3:7401' },
  ]);
  assert.equal(f.listenPeer, '127.0.0.2:9001');
  assert.equal(f.advertisePeer, '127.0.0.2:9001');
});

test('host:port forms', () => {
  assert.equal(parseHostPort('x', ':9000', 1), '127.0.0.1:9000');
  assert.equal(parseHostPort('x', '10.0.0.1', 7400), '10.0.0.1:7400');
  assert.throws(() => parseHostPort('listen-api', 'a:99999', 1), /--listen-api: port/);
});

const bad: [string[], RegExp][] = [
  [['--data-dir', '/tmp/x'], /^--name: is required/],
  [['--name', 'C_1', '--data-dir', '/tmp/x'], /^--name: .*DNS-1123/],
  [['--name', 'c1'], /^--data-dir: is required/],
  [[...base, '--initial-cluster', 'c2=127.0.0.1:1'], /^--initial-cluster: does not list this member/],
  [[...base, '--initial-cluster', 'c1=127.0.0.1:1,c1=127.0.0.1:2'], /^--initial-cluster: member c1 is listed twice/],
  [[...base, '--initial-cluster', 'c1'], /^--initial-cluster: "c1" is not NAME=HOST:PORT/],
  [[...base, '--initial-cluster', 'c1=127.0.0.1:1', '--join', '127.0.0.1:7400'], /^--join: cannot be combined/],
  [[...base, '--tick-ms', '0'], /^--tick-ms: must be a whole number/],
  [[...base, '--election-ticks', 'ten'], /^--election-ticks: must be a whole number/],
  [[...base, '--listen-api', '127.0.0.1:7401'], /^--listen-api: must differ from --listen-peer/],
  [[...base, '--listen-api', '0.0.0.0:7400'], /^--advertise-api: .*cannot be dialled/],
  [[...base, '--log-level', 'loud'], /^--log-level: "loud" is not one of/],
  [[...base, '--bogus'], /^--bogus: Unknown option/],
  [[...base, '--node-monitor-grace', '0'], /^--node-monitor-grace: must be a whole number of seconds from 1/],
  [[...base, '--default-eviction-seconds', '1.5'], /^--default-eviction-seconds: must be a whole number of seconds from 0/],
  [[...base, '--encryption-key-file', ''], /^--encryption-key-file: is empty/],
];
for (const [argv, want] of bad) {
  test(`bad flags are refused naming the flag: ${argv.slice(4).join(' ') || argv.join(' ')}`, () => {
    assert.throws(() => parseFlags(argv), (e: unknown) => e instanceof FlagError && want.test(e.message));
  });
}

test('tug-control exits 2 with a message naming the bad flag', () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const r = spawnSync(process.execPath, [main, '--name', 'c1', '--data-dir', '/tmp/tug-flag-test-unused', '--tick-ms', '-5'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--tick-ms/);
  const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: tug-control/);
});

test('tug-control refuses a new data dir without --initial-cluster or --join', () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const dir = `/tmp/tug-flag-test-${process.pid}`;
  const r = spawnSync(process.execPath, [main, '--name', 'c1', '--data-dir', dir, '--listen-peer', '127.0.0.1:1', '--listen-api', '127.0.0.1:2', '--insecure-plaintext'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--initial-cluster: or --join is required/);
  assert.equal(existsSync(dir), false, 'a refused start must not create the data dir');
});

test('tug-control exits 1 naming a bad --encryption-key-file, before it touches the data dir', () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'tug-flag-keys-'));
  try {
    const keyFile = join(tmp, 'keys.yaml');
    writeFileSync(keyFile, `keys:\n  - name: k1\n    secret: ${Buffer.alloc(32).toString('base64')}\n`);
    chmodSync(keyFile, 0o644);
    const dir = join(tmp, 'data');
    const args = [main, '--name', 'c1', '--data-dir', dir, '--initial-cluster', 'c1=127.0.0.1:1', '--listen-api', '127.0.0.1:2', '--insecure-plaintext', '--encryption-key-file', keyFile];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^tug-control: encryption key file ${keyFile}: mode 0644 lets others than its owner read or change it; chmod 600 `, 'm'));
    assert.equal(existsSync(dir), false, 'a refused start must not create the data dir');
    writeFileSync(keyFile, 'keys: []\n');
    chmodSync(keyFile, 0o600);
    const r2 = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /encryption key file .*: keys: must list at least one key/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
