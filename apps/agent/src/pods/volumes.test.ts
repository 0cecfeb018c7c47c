// Runs as root: Memory emptyDir and secret volumes are real tmpfs mounts under a temp dir,
// unmounted after each test whatever happened.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ConfigMap, Container, Pod, Secret, Volume } from '@tugboat/api';
import { pino } from 'pino';
import { volumeDir } from '../paths.ts';
import { ContainerConfigError } from './env.ts';
import type { ObjectSource } from './env.ts';
import { containerMounts, mountPoints, payloadFiles, VolumeManager } from './volumes.ts';

const log = pino({ level: 'silent' });
const UID = 'uid-1';

function pod(volumes: Volume[], uid = UID): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', uid },
    spec: { containers: [{ name: 'app', image: 'web' }], volumes },
  };
}

/** MutableSource: ConfigMaps and Secrets of namespace "shop" that a test can change. */
class MutableSource implements ObjectSource {
  configMaps = new Map<string, ConfigMap>();
  secrets = new Map<string, Secret>();
  async configMap(ns: string, name: string): Promise<ConfigMap | undefined> {
    return ns === 'shop' ? this.configMaps.get(name) : undefined;
  }
  async secret(ns: string, name: string): Promise<Secret | undefined> {
    return ns === 'shop' ? this.secrets.get(name) : undefined;
  }
  putConfigMap(name: string, data: Record<string, string>, binaryData?: Record<string, string>): void {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'shop' }, data };
    if (binaryData !== undefined) cm.binaryData = binaryData;
    this.configMaps.set(name, cm);
  }
  putSecret(name: string, data: Record<string, string>): void {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.secrets.set(name, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'shop' }, data: encoded });
  }
}

const modeOf = (p: string): number => statSync(p).mode & 0o777;

function isConfigError(pattern: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ContainerConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  };
}

let root: string;
let dataDir: string;
let source: MutableSource;
let vm: VolumeManager;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tug-volumes-'));
  dataDir = join(root, 'data');
  source = new MutableSource();
  vm = new VolumeManager({ dataDir, log });
});

afterEach(() => {
  for (const m of mountPoints().filter((p) => p.startsWith(root + '/')).sort((a, b) => b.length - a.length)) {
    execFileSync('umount', ['-l', m]);
  }
  rmSync(root, { recursive: true, force: true });
});

describe('VolumeManager emptyDir', () => {
  it('makes a world-writable directory on disk', async () => {
    const paths = await vm.setUp(pod([{ name: 'scratch', emptyDir: {} }, { name: 'implicit' }]), source);
    const dir = volumeDir(dataDir, UID, 'scratch');
    assert.equal(paths.get('scratch'), dir);
    assert.equal(paths.get('implicit'), volumeDir(dataDir, UID, 'implicit'));
    assert.equal(modeOf(dir), 0o777);
    assert.ok(!mountPoints().includes(dir));
    writeFileSync(join(dir, 'kept'), 'x');
    await vm.setUp(pod([{ name: 'scratch', emptyDir: {} }]), source);
    assert.equal(readFileSync(join(dir, 'kept'), 'utf8'), 'x');
  });

  it('mounts a tmpfs of sizeLimit for medium Memory, once', async () => {
    const p = pod([{ name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } }]);
    await vm.setUp(p, source);
    await vm.setUp(p, source);
    const dir = volumeDir(dataDir, UID, 'cache');
    assert.equal(mountPoints().filter((m) => m === dir).length, 1);
    const fs = statfsSync(dir);
    assert.equal(fs.blocks * fs.bsize, 8 * 1024 * 1024);
    assert.equal(modeOf(dir), 0o777);
  });
});

describe('VolumeManager configMap', () => {
  it('writes one file per key with defaultMode, binaryData decoded, behind ..data', async () => {
    source.putConfigMap('cfg', { 'app.conf': 'port=80\n', level: 'debug' }, { 'blob.bin': Buffer.from([0, 1, 2]).toString('base64') });
    await vm.setUp(pod([{ name: 'config', configMap: { name: 'cfg', defaultMode: 0o640 } }]), source);
    const dir = volumeDir(dataDir, UID, 'config');
    assert.equal(readFileSync(join(dir, 'app.conf'), 'utf8'), 'port=80\n');
    assert.equal(readFileSync(join(dir, 'level'), 'utf8'), 'debug');
    assert.deepEqual([...readFileSync(join(dir, 'blob.bin'))], [0, 1, 2]);
    assert.equal(modeOf(join(dir, 'level')), 0o640);
    assert.equal(readlinkSync(join(dir, 'level')), '..data/level');
    assert.match(readlinkSync(join(dir, '..data')), /^\.\.\d{4}_/);
  });

  it('writes only the listed items, at their paths and modes', async () => {
    source.putConfigMap('cfg', { a: 'A', b: 'B', c: 'C' });
    const volume: Volume = {
      name: 'config',
      configMap: { name: 'cfg', items: [{ key: 'a', path: 'sub/dir/a.txt', mode: 0o600 }, { key: 'b', path: 'b.txt' }] },
    };
    await vm.setUp(pod([volume]), source);
    const dir = volumeDir(dataDir, UID, 'config');
    assert.equal(readFileSync(join(dir, 'sub/dir/a.txt'), 'utf8'), 'A');
    assert.equal(modeOf(join(dir, 'sub/dir/a.txt')), 0o600);
    assert.equal(modeOf(join(dir, 'b.txt')), 0o644);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('..')).sort(), ['b.txt', 'sub']);
  });

  it('refreshes the files atomically after the ConfigMap changed, and only then', async () => {
    source.putConfigMap('cfg', { a: 'one', gone: 'soon' });
    const p = pod([{ name: 'config', configMap: { name: 'cfg' } }]);
    await vm.setUp(p, source);
    const dir = volumeDir(dataDir, UID, 'config');
    const first = readlinkSync(join(dir, '..data'));
    await vm.setUp(p, source);
    assert.equal(readlinkSync(join(dir, '..data')), first, 'unchanged data keeps its version');

    source.putConfigMap('cfg', { a: 'two', b: 'new' });
    await vm.setUp(p, source);
    const second = readlinkSync(join(dir, '..data'));
    assert.notEqual(second, first);
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'two');
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'new');
    assert.deepEqual(readdirSync(dir).sort(), ['..data', second, 'a', 'b'].sort());
    assert.ok(lstatSync(join(dir, '..data')).isSymbolicLink());
  });

  it('keeps the files it has when the source cannot be read (control plane down), and fails without them', async () => {
    source.putConfigMap('cfg', { a: 'one' });
    source.putSecret('sec', { s: 'hidden' });
    const p = pod([
      { name: 'config', configMap: { name: 'cfg' } },
      { name: 'secret', secret: { secretName: 'sec' } },
    ]);
    await vm.setUp(p, source);
    const unreachable: ObjectSource = {
      configMap: () => Promise.reject(new Error('no endpoint reachable')),
      secret: () => Promise.reject(new Error('no endpoint reachable')),
    };
    const paths = await vm.setUp(p, unreachable);
    assert.equal(readFileSync(join(paths.get('config')!, 'a'), 'utf8'), 'one');
    assert.equal(readFileSync(join(paths.get('secret')!, 's'), 'utf8'), 'hidden');
    await assert.rejects(vm.setUp(pod([{ name: 'config', configMap: { name: 'cfg' } }], 'uid-2'), unreachable), /no endpoint reachable/);
  });

  it('fails for a missing ConfigMap or key unless optional', async () => {
    await assert.rejects(
      vm.setUp(pod([{ name: 'config', configMap: { name: 'cfg' } }]), source),
      isConfigError(/pod shop\/web-1: volume "config": configmap "shop\/cfg" not found/),
    );
    source.putConfigMap('cfg', { a: 'A' });
    await assert.rejects(
      vm.setUp(pod([{ name: 'config', configMap: { name: 'cfg', items: [{ key: 'zz', path: 'z' }] } }]), source),
      isConfigError(/volume "config" \(configmap "cfg"\): key "zz" not found/),
    );
    const paths = await vm.setUp(
      pod([
        { name: 'opt', configMap: { name: 'absent', optional: true } },
        { name: 'optkey', configMap: { name: 'cfg', optional: true, items: [{ key: 'zz', path: 'z' }] } },
      ]),
      source,
    );
    assert.deepEqual(readdirSync(paths.get('opt') ?? '').filter((n) => !n.startsWith('..')), []);
    assert.deepEqual(readdirSync(paths.get('optkey') ?? '').filter((n) => !n.startsWith('..')), []);
  });

  it('refuses item paths that leave the volume', async () => {
    source.putConfigMap('cfg', { a: 'A' });
    for (const path of ['../x', '/etc/x', 'a/../../x', '..data']) {
      await assert.rejects(
        vm.setUp(pod([{ name: 'config', configMap: { name: 'cfg', items: [{ key: 'a', path }] } }]), source),
        isConfigError(/must be relative/),
      );
    }
  });
});

describe('VolumeManager secret', () => {
  it('writes decoded files on a tmpfs mount', async () => {
    source.putSecret('creds', { password: 'hunter2' });
    await vm.setUp(pod([{ name: 'creds', secret: { secretName: 'creds', defaultMode: 0o400 } }]), source);
    const dir = volumeDir(dataDir, UID, 'creds');
    assert.ok(mountPoints().includes(dir));
    assert.equal(readFileSync(join(dir, 'password'), 'utf8'), 'hunter2');
    assert.equal(modeOf(join(dir, 'password')), 0o400);

    source.putSecret('creds', { password: 'changed' });
    await vm.setUp(pod([{ name: 'creds', secret: { secretName: 'creds' } }]), source);
    assert.equal(readFileSync(join(dir, 'password'), 'utf8'), 'changed');
    assert.equal(mountPoints().filter((m) => m === dir).length, 1);
  });

  it('fails for a missing Secret unless optional', async () => {
    await assert.rejects(
      vm.setUp(pod([{ name: 'creds', secret: { secretName: 'nope' } }]), source),
      isConfigError(/volume "creds": secret "shop\/nope" not found/),
    );
  });
});

describe('VolumeManager hostPath', () => {
  it('creates DirectoryOrCreate (0755) and FileOrCreate (empty) paths', async () => {
    const dir = join(root, 'host', 'made');
    const file = join(root, 'file.log');
    const paths = await vm.setUp(
      pod([
        { name: 'd', hostPath: { path: dir, type: 'DirectoryOrCreate' } },
        { name: 'f', hostPath: { path: file, type: 'FileOrCreate' } },
        { name: 'any', hostPath: { path: join(root, 'does-not-matter') } },
      ]),
      source,
    );
    assert.equal(paths.get('d'), dir);
    assert.equal(modeOf(dir), 0o755);
    assert.equal(readFileSync(file, 'utf8'), '');
    assert.equal(paths.get('any'), join(root, 'does-not-matter'));
  });

  it('checks the kind of existing paths', async () => {
    mkdirSync(join(root, 'adir'));
    writeFileSync(join(root, 'afile'), 'x');
    await vm.setUp(
      pod([
        { name: 'd', hostPath: { path: join(root, 'adir'), type: 'Directory' } },
        { name: 'f', hostPath: { path: join(root, 'afile'), type: 'File' } },
        { name: 'c', hostPath: { path: '/dev/null', type: 'CharDevice' } },
      ]),
      source,
    );
    const bad: [Volume, RegExp][] = [
      [{ name: 'v', hostPath: { path: join(root, 'missing'), type: 'Directory' } }, /volume "v": hostPath \S+\/missing \(type Directory\) does not exist/],
      [{ name: 'v', hostPath: { path: join(root, 'adir'), type: 'File' } }, /hostPath \S+\/adir \(type File\) is not a file/],
      [{ name: 'v', hostPath: { path: join(root, 'afile'), type: 'DirectoryOrCreate' } }, /is not a directory/],
      [{ name: 'v', hostPath: { path: join(root, 'afile'), type: 'Socket' } }, /is not a socket/],
      [{ name: 'v', hostPath: { path: join(root, 'afile'), type: 'BlockDevice' } }, /is not a block device/],
    ];
    for (const [volume, message] of bad) {
      await assert.rejects(vm.setUp(pod([volume]), source), isConfigError(message));
    }
  });
});

describe('VolumeManager tearDown and podUids', () => {
  it('unmounts and removes the pod dir, idempotently', async () => {
    source.putSecret('creds', { k: 'v' });
    await vm.setUp(pod([{ name: 'creds', secret: { secretName: 'creds' } }, { name: 'mem', emptyDir: { medium: 'Memory' } }, { name: 'disk' }]), source);
    await vm.setUp(pod([{ name: 'other' }], 'uid-2'), source);
    assert.deepEqual(vm.podUids(), [UID, 'uid-2']);

    await vm.tearDown(UID);
    assert.deepEqual(mountPoints().filter((m) => m.startsWith(dataDir)), []);
    assert.deepEqual(vm.podUids(), ['uid-2']);
    await vm.tearDown(UID);
    await assert.rejects(vm.tearDown('../x'), /invalid pod uid/);
  });

  it('lists no pods before any volume exists', () => {
    assert.deepEqual(vm.podUids(), []);
  });
});

describe('containerMounts', () => {
  const container = (volumeMounts: NonNullable<Container['volumeMounts']>): Container => ({ name: 'app', image: 'web', volumeMounts });

  it('maps mounts, forcing configMap and secret volumes read-only', async () => {
    source.putConfigMap('cfg', { a: 'A' });
    const p = pod([{ name: 'data' }, { name: 'config', configMap: { name: 'cfg' } }]);
    const paths = await vm.setUp(p, source);
    const mounts = containerMounts(
      p,
      container([
        { name: 'data', mountPath: '/data' },
        { name: 'data', mountPath: '/ro', readOnly: true },
        { name: 'config', mountPath: '/etc/app' },
        { name: 'config', mountPath: '/etc/a', subPath: 'a' },
        { name: 'data', mountPath: '/logs', subPath: 'logs/app' },
      ]),
      paths,
    );
    const data = volumeDir(dataDir, UID, 'data');
    const config = volumeDir(dataDir, UID, 'config');
    const version = readlinkSync(join(config, '..data'));
    assert.deepEqual(mounts, [
      { containerPath: '/data', hostPath: data, readonly: false },
      { containerPath: '/ro', hostPath: data, readonly: true },
      { containerPath: '/etc/app', hostPath: config, readonly: true },
      { containerPath: '/etc/a', hostPath: join(config, version, 'a'), readonly: true },
      { containerPath: '/logs', hostPath: join(data, 'logs/app'), readonly: false },
    ]);
    assert.ok(statSync(join(data, 'logs/app')).isDirectory(), 'a missing subPath is created');
  });

  it('refuses subPaths that leave the volume and unknown volumes', async () => {
    const p = pod([{ name: 'data' }]);
    const paths = await vm.setUp(p, source);
    symlinkSync(root, join(volumeDir(dataDir, UID, 'data'), 'out'));
    const cases: [NonNullable<Container['volumeMounts']>, RegExp][] = [
      [[{ name: 'data', mountPath: '/x', subPath: '../x' }], /volumeMount "data" at \/x: subPath "..\/x" must be relative/],
      [[{ name: 'data', mountPath: '/x', subPath: '/etc' }], /must be relative/],
      [[{ name: 'data', mountPath: '/x', subPath: 'out' }], /subPath "out" resolves outside the volume/],
      [[{ name: 'data', mountPath: '/x', subPath: 'out/new/dir' }], /resolves outside the volume/],
      [[{ name: 'nope', mountPath: '/x' }], /pod shop\/web-1: container "app": volumeMount "nope" at \/x: the pod has no volume "nope"/],
    ];
    for (const [mounts, message] of cases) {
      assert.throws(() => containerMounts(p, container(mounts), paths), isConfigError(message));
    }
    assert.ok(!readdirSync(root).includes('new'), 'nothing created outside the volume');
  });
});

describe('payloadFiles', () => {
  it('maps keys or items to files with modes', () => {
    const values = new Map([
      ['a', Buffer.from('A')],
      ['b', Buffer.from('B')],
    ]);
    assert.deepEqual(
      [...payloadFiles(values, undefined, 0o644, false, 'v')].map(([p, f]) => [p, f.data.toString(), f.mode]),
      [
        ['a', 'A', 0o644],
        ['b', 'B', 0o644],
      ],
    );
    assert.deepEqual(
      [...payloadFiles(values, [{ key: 'b', path: 'x/b', mode: 0o600 }], 0o644, false, 'v')].map(([p, f]) => [p, f.mode]),
      [['x/b', 0o600]],
    );
  });
});
