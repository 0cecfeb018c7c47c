// volumes.ts: a pod's volumes on the node, and the CRI mounts of its containers.
//
// Every volume but hostPath lives in DATA/pods/UID/volumes/NAME (paths.volumeDir). emptyDir is
// a directory there (a tmpfs mount for medium Memory); configMap and secret volumes are files
// written there (on a tmpfs mount for secrets, so secret data never reaches the disk).
//
// configMap and secret files are written so that a container never sees half an update:
//
//   NAME/..2024_01_02_15_04_05.123_xxxxxx/   the files of one version (mode bits applied)
//   NAME/..data -> ..2024_01_02_...           the current version
//   NAME/KEY    -> ..data/KEY                 one link per top-level entry
//
// An update writes a new version directory, points a temporary link at it and renames the
// link over `..data` (rename is atomic), then fixes the top-level links and removes the old
// version. A reader going through KEY -> ..data/KEY sees either all old or all new files.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { DEFAULT_FILE_MODE, memoryBytes } from '@tugboat/api';
import type { Container, KeyToPath, Pod, Volume } from '@tugboat/api';
import type { cri } from '@tugboat/proto';
import type { Logger } from 'pino';
import { podDir, podsRoot, volumeDir } from '../paths.ts';
import { configMapValues, ContainerConfigError, isContainerConfigError, podRef, secretValues } from './env.ts';
import type { ObjectSource } from './env.ts';

const execFileAsync = promisify(execFile);

/** MountInit is a CRI Mount as an init object. */
export type MountInit = MessageInitShape<typeof cri.MountSchema>;

const DATA_LINK = '..data';
const DATA_LINK_TMP = '..data_tmp';
/** KEEP: keep a volume's files as they are (its source could not be read). */
const KEEP = Symbol('keep');
const EMPTY_DIR_MODE = 0o777;
const PAYLOAD_DIR_MODE = 0o755;
const HOST_PATH_CREATE_DIR_MODE = 0o755;
const HOST_PATH_CREATE_FILE_MODE = 0o644;

/** PayloadFile is one file of a configMap or secret volume. */
export interface PayloadFile {
  data: Buffer;
  mode: number;
}

/** checkRelativePath throws unless `p` is a relative path that stays inside its base
 *  (no absolute path, no `..` element, no leading `..` name that would clash with ours). */
function checkRelativePath(p: string, what: string): void {
  const parts = p.split('/');
  if (isAbsolute(p) || parts.some((s) => s === '..' || s === '.' || s === '') || p.startsWith('..')) {
    throw new ContainerConfigError(`${what}: path "${p}" must be relative, without "." or ".." elements or a leading ".."`);
  }
}

/**
 * payloadFiles returns the files of a configMap or secret volume: one per key named as the
 * key, or only the listed `items` (key -> path, optional mode). A missing key of `items` is
 * an error unless the volume is optional.
 */
export function payloadFiles(
  values: ReadonlyMap<string, Buffer>,
  items: readonly KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  what: string,
): Map<string, PayloadFile> {
  const files = new Map<string, PayloadFile>();
  if (items === undefined || items.length === 0) {
    for (const [key, data] of values) {
      checkRelativePath(key, what);
      files.set(key, { data, mode: defaultMode });
    }
    return files;
  }
  for (const item of items) {
    const data = values.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw new ContainerConfigError(`${what}: key "${item.key}" not found`);
    }
    checkRelativePath(item.path, what);
    files.set(item.path, { data, mode: item.mode ?? defaultMode });
  }
  return files;
}

/** VolumeManager makes, refreshes and removes the volumes of the pods on this node. */
export class VolumeManager {
  readonly #dataDir: string;
  readonly #log: Logger;

  constructor(opts: { dataDir: string; log: Logger }) {
    this.#dataDir = resolve(opts.dataDir);
    this.#log = opts.log;
  }

  /**
   * setUp makes (or refreshes) every volume of the pod and returns volume name -> host path
   * (paths.volumeDir, or the node path for hostPath). configMap and secret files are
   * (re)written atomically when their content or modes changed; Memory emptyDir and secret
   * volumes are tmpfs mounts. Throws ContainerConfigError when a ConfigMap, Secret or key is
   * missing and not optional, or a hostPath is not of its `type`. Idempotent; calls for one
   * pod must not overlap.
   */
  async setUp(pod: Pod, source: ObjectSource): Promise<Map<string, string>> {
    const uid = pod.metadata.uid ?? '';
    if (uid === '') throw new Error(`volumes of pod ${podRef(pod)}: the pod has no metadata.uid`);
    const paths = new Map<string, string>();
    for (const volume of pod.spec.volumes ?? []) {
      const what = `pod ${podRef(pod)}: volume "${volume.name}"`;
      paths.set(volume.name, await this.#setUpVolume(pod, uid, volume, source, what));
    }
    return paths;
  }

  async #setUpVolume(pod: Pod, uid: string, volume: Volume, source: ObjectSource, what: string): Promise<string> {
    const namespace = pod.metadata.namespace ?? 'default';
    if (volume.hostPath !== undefined) {
      await checkHostPath(volume.hostPath.path, volume.hostPath.type ?? '', what);
      return volume.hostPath.path;
    }
    const dir = volumeDir(this.#dataDir, uid, volume.name);
    if (volume.configMap !== undefined) {
      const src = volume.configMap;
      const cm = await this.#readOrKeep(dir, what, () => source.configMap(namespace, src.name));
      if (cm === KEEP) return dir;
      if (cm === undefined && src.optional !== true) {
        throw new ContainerConfigError(`${what}: configmap "${namespace}/${src.name}" not found`);
      }
      const values = cm === undefined ? new Map<string, Buffer>() : configMapValues(cm);
      const files = payloadFiles(values, src.items, src.defaultMode ?? DEFAULT_FILE_MODE, src.optional === true, `${what} (configmap "${src.name}")`);
      await mkdir(dir, { recursive: true, mode: PAYLOAD_DIR_MODE });
      await this.#writePayload(dir, files, what);
      return dir;
    }
    if (volume.secret !== undefined) {
      const src = volume.secret;
      const secret = await this.#readOrKeep(dir, what, () => source.secret(namespace, src.secretName));
      if (secret === KEEP) return dir;
      if (secret === undefined && src.optional !== true) {
        throw new ContainerConfigError(`${what}: secret "${namespace}/${src.secretName}" not found`);
      }
      const values = secret === undefined ? new Map<string, Buffer>() : secretValues(secret);
      const files = payloadFiles(values, src.items, src.defaultMode ?? DEFAULT_FILE_MODE, src.optional === true, `${what} (secret "${src.secretName}")`);
      await this.#mountTmpfs(dir, PAYLOAD_DIR_MODE, undefined, what);
      await this.#writePayload(dir, files, what);
      return dir;
    }
    // emptyDir, also the default source.
    const emptyDir = volume.emptyDir ?? {};
    if (emptyDir.medium === 'Memory') {
      const size = emptyDir.sizeLimit === undefined ? undefined : memoryBytes(emptyDir.sizeLimit);
      await this.#mountTmpfs(dir, EMPTY_DIR_MODE, size, what);
    } else if (!existsSync(dir)) {
      await mkdir(dir, { recursive: true });
      // 0777 so that containers running as any user can write; mkdir's mode is masked by umask.
      await chmod(dir, EMPTY_DIR_MODE);
    }
    return dir;
  }

  /**
   * readOrKeep reads a volume's source object. When the read fails (the control plane is
   * unreachable) and the volume already holds files from an earlier set-up, it answers KEEP:
   * a container restarted during an outage gets the files it had, as pods keep running then.
   */
  async #readOrKeep<T>(dir: string, what: string, read: () => Promise<T>): Promise<T | typeof KEEP> {
    try {
      return await read();
    } catch (err) {
      if (isContainerConfigError(err) || !existsSync(join(dir, DATA_LINK))) throw err;
      this.#log.warn({ volume: what, err: (err as Error).message }, 'cannot read the volume source; keeping the files it has');
      return KEEP;
    }
  }

  async #mountTmpfs(dir: string, mode: number, sizeBytes: number | undefined, what: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (mountPoints().includes(await realpath(dir))) return;
    const options = [`mode=${mode.toString(8).padStart(4, '0')}`];
    if (sizeBytes !== undefined) options.push(`size=${sizeBytes}`);
    try {
      await execFileAsync('mount', ['-t', 'tmpfs', '-o', options.join(','), 'tmpfs', dir]);
    } catch (e) {
      throw new Error(`${what}: mount tmpfs on ${dir}: ${commandError(e)}`, { cause: e });
    }
    this.#log.info({ volume: what, path: dir, options: options.join(',') }, 'tmpfs mounted');
  }

  /** #writePayload makes `dir` hold exactly `files`, atomically; nothing when already so. */
  async #writePayload(dir: string, files: ReadonlyMap<string, PayloadFile>, what: string): Promise<void> {
    const current = await readLink(join(dir, DATA_LINK));
    if (current !== undefined && (await payloadMatches(join(dir, current), files))) return;

    const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '');
    const version = await mkdtemp(join(dir, `..${stamp}_`));
    await chmod(version, PAYLOAD_DIR_MODE);
    for (const [path, file] of files) {
      const target = join(version, path);
      await mkdir(dirname(target), { recursive: true, mode: PAYLOAD_DIR_MODE });
      await writeFile(target, file.data);
      await chmod(target, file.mode);
    }
    const versionName = relative(dir, version);
    const tmpLink = join(dir, DATA_LINK_TMP);
    await rm(tmpLink, { force: true });
    await symlink(versionName, tmpLink);
    await rename(tmpLink, join(dir, DATA_LINK));

    // Top-level links: one per first path element; stale ones (and stale versions) go.
    const wanted = new Set([...files.keys()].map((p) => p.split(sep)[0] ?? p));
    for (const name of wanted) {
      const link = join(dir, name);
      const target = join(DATA_LINK, name);
      if ((await readLink(link)) === target) continue;
      await rm(link, { recursive: true, force: true });
      await symlink(target, link);
    }
    for (const name of await readdir(dir)) {
      if (name === DATA_LINK || name === versionName || wanted.has(name)) continue;
      await rm(join(dir, name), { recursive: true, force: true });
    }
    this.#log.info({ volume: what, path: dir, files: files.size, version: versionName }, 'volume files written');
  }

  /** tearDown unmounts (lazily) every mount under the pod's directory and removes the
   *  directory. Idempotent. Refuses to remove anything while a mount is left. */
  async tearDown(podUid: string): Promise<void> {
    if (podUid === '' || podUid.includes('/') || podUid.startsWith('.')) {
      throw new Error(`tear down volumes: invalid pod uid "${podUid}"`);
    }
    const dir = await realpathOrSelf(podDir(this.#dataDir, podUid));
    const under = (): string[] => mountPoints().filter((m) => m === dir || m.startsWith(dir + sep));
    // Deepest first, so a mount inside another is gone before its parent.
    for (const m of under().sort((a, b) => b.length - a.length)) {
      try {
        await execFileAsync('umount', ['-l', m]);
        this.#log.info({ podUid, path: m }, 'volume unmounted');
      } catch (e) {
        throw new Error(`tear down volumes of pod uid ${podUid}: umount ${m}: ${commandError(e)}`, { cause: e });
      }
    }
    const left = under();
    if (left.length > 0) {
      throw new Error(`tear down volumes of pod uid ${podUid}: still mounted after umount: ${left.join(', ')}`);
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** podUids lists the pod directories on disk (to clean up after pods deleted while the agent
   *  was down). */
  podUids(): string[] {
    try {
      return readdirSync(podsRoot(this.#dataDir), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}

function commandError(e: unknown): string {
  const stderr = (e as { stderr?: unknown }).stderr;
  return typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : (e as Error).message;
}

async function realpathOrSelf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return path;
    throw e;
  }
}

async function readLink(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw e;
  }
}

/** payloadMatches tells whether the version directory holds exactly `files` (content and mode). */
async function payloadMatches(version: string, files: ReadonlyMap<string, PayloadFile>): Promise<boolean> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(version, rel), { withFileTypes: true })) {
      const p = rel === '' ? d.name : join(rel, d.name);
      if (d.isDirectory()) await walk(p);
      else found.push(p);
    }
  };
  try {
    await walk('');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (found.length !== files.size) return false;
  for (const p of found) {
    const want = files.get(p);
    if (want === undefined) return false;
    const full = join(version, p);
    if (((await stat(full)).mode & 0o7777) !== want.mode) return false;
    if (!(await readFile(full)).equals(want.data)) return false;
  }
  return true;
}

/** mountPoints lists the mount points of this mount namespace (from /proc/self/mountinfo). */
export function mountPoints(): string[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if (field !== undefined) points.push(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

const HOST_PATH_KINDS: Readonly<Record<string, { test: (s: Stats) => boolean; noun: string }>> = {
  Directory: { test: (s) => s.isDirectory(), noun: 'a directory' },
  DirectoryOrCreate: { test: (s) => s.isDirectory(), noun: 'a directory' },
  File: { test: (s) => s.isFile(), noun: 'a file' },
  FileOrCreate: { test: (s) => s.isFile(), noun: 'a file' },
  Socket: { test: (s) => s.isSocket(), noun: 'a socket' },
  CharDevice: { test: (s) => s.isCharacterDevice(), noun: 'a character device' },
  BlockDevice: { test: (s) => s.isBlockDevice(), noun: 'a block device' },
};

/** checkHostPath checks (or creates, for the ...OrCreate types) a hostPath volume's path. */
async function checkHostPath(path: string, type: string, what: string): Promise<void> {
  const kind = HOST_PATH_KINDS[type];
  if (kind === undefined) return; // "": mounted as it is, nothing checked
  let st: Stats | undefined;
  try {
    st = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st === undefined && type === 'DirectoryOrCreate') {
    await mkdir(path, { recursive: true, mode: HOST_PATH_CREATE_DIR_MODE });
    return;
  }
  if (st === undefined && type === 'FileOrCreate') {
    try {
      await writeFile(path, '', { flag: 'a', mode: HOST_PATH_CREATE_FILE_MODE });
    } catch (e) {
      throw new ContainerConfigError(`${what}: hostPath ${path} (type FileOrCreate): cannot create it: ${(e as Error).message}`);
    }
    return;
  }
  if (st === undefined) throw new ContainerConfigError(`${what}: hostPath ${path} (type ${type}) does not exist`);
  if (!kind.test(st)) throw new ContainerConfigError(`${what}: hostPath ${path} (type ${type}) is not ${kind.noun}`);
}

/** isInside tells whether `path` is `base` or below it. */
function isInside(base: string, path: string): boolean {
  const rel = relative(base, path);
  // Not startsWith('..'): our own "..data" and version names are inside.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * subPathHostPath returns the host path of `subPath` inside the volume at `volumePath`,
 * creating it as a directory when missing. Throws ContainerConfigError when subPath is absolute,
 * has a `..` element, or resolves (through symlinks) outside the volume.
 */
function subPathHostPath(volumePath: string, subPath: string, what: string): string {
  if (isAbsolute(subPath) || subPath.split('/').includes('..')) {
    throw new ContainerConfigError(`${what}: subPath "${subPath}" must be relative, without ".." elements`);
  }
  const base = realpathSync(volumePath);
  const escapes = (): ContainerConfigError =>
    new ContainerConfigError(`${what}: subPath "${subPath}" resolves outside the volume`);
  const target = join(base, subPath);
  // Check the deepest part that exists before creating the rest, so mkdir never follows a
  // symlink out of the volume.
  let existing = target;
  while (!existsSync(existing)) existing = dirname(existing);
  if (!isInside(base, realpathSync(existing))) throw escapes();
  if (existing !== target) mkdirSync(target, { recursive: true, mode: HOST_PATH_CREATE_DIR_MODE });
  const resolved = realpathSync(target);
  if (!isInside(base, resolved)) throw escapes();
  return resolved;
}

/**
 * containerMounts maps the container's volumeMounts to CRI mounts, in order: host path from
 * `volumePaths` (VolumeManager.setUp), joined with subPath (resolved, created when missing and
 * kept inside the volume); readonly from readOnly, and always for configMap and secret
 * volumes. Throws ContainerConfigError for a mount of a volume the pod does not have.
 */
export function containerMounts(pod: Pod, container: Container, volumePaths: ReadonlyMap<string, string>): MountInit[] {
  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  return (container.volumeMounts ?? []).map((m): MountInit => {
    const what = `pod ${podRef(pod)}: container "${container.name}": volumeMount "${m.name}" at ${m.mountPath}`;
    const volume = volumes.get(m.name);
    const hostPath = volumePaths.get(m.name);
    if (volume === undefined || hostPath === undefined) {
      throw new ContainerConfigError(`${what}: the pod has no volume "${m.name}"`);
    }
    const apiData = volume.configMap !== undefined || volume.secret !== undefined;
    const subPath = m.subPath ?? '';
    return {
      containerPath: m.mountPath,
      hostPath: subPath === '' ? hostPath : subPathHostPath(hostPath, subPath, what),
      readonly: m.readOnly === true || apiData,
    };
  });
}
