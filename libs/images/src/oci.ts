// oci.ts: builds OCI image-layout tarballs without a registry or any tool
// beyond Node: a small ustar writer, sha256 content addressing, and the OCI JSON documents.
//
// Output is deterministic: every tar entry has mtime 0, uid/gid 0 and empty owner names,
// entries are sorted by path, gzip is produced by zlib with a fixed header (no name, mtime 0),
// and JSON is serialised with a fixed key order. Two builds from the same inputs therefore
// give byte-identical tarballs and the same manifest digest.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** TarEntry is one file system object of a layer or of the image-layout archive. */
export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; mode?: number; data: Buffer | string }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;

/** splitUstarName fits a path into ustar's name (100) and prefix (155) fields. */
function splitUstarName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar: field too long: ${value}`);
  bytes.copy(buf, offset);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, then NUL.
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`tar: value ${value} does not fit ${length} bytes`);
  writeString(buf, offset, length, `${digits}\0`);
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitUstarName(path);
  const mode = entry.type === 'symlink' ? 0o777 : (entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0); // mtime
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  writeString(h, 156, 1, entry.type === 'dir' ? '5' : entry.type === 'symlink' ? '2' : '0');
  if (entry.type === 'symlink') writeString(h, 157, 100, entry.target);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** tar returns a ustar archive of the entries, sorted by path, ending with two zero blocks. */
export function tar(entries: readonly TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const entry of sorted) {
    if (seen.has(entry.path)) throw new Error(`tar: duplicate entry ${entry.path}`);
    seen.add(entry.path);
    const data = entry.type === 'file' ? Buffer.from(entry.data) : Buffer.alloc(0);
    parts.push(header(entry, data.length), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** sha256 returns the OCI digest ("sha256:<hex>") of data. */
export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** ociArch maps Node's process.arch to the OCI/Go architecture name. */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  const a = map[arch];
  if (a === undefined) throw new Error(`unsupported architecture ${arch}`);
  return a;
}

/** ImageSpec describes one single-layer image. */
export interface ImageSpec {
  /** name is the full reference, such as "tugboat.local/pause:latest". */
  name: string;
  /** rootfs is the content of the only layer. */
  rootfs: readonly TarEntry[];
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  exposedPorts?: string[];
  stopSignal?: string;
  architecture?: string;
}

/** BuiltImage is an image-layout archive and the digests inside it. */
export interface BuiltImage {
  name: string;
  /** archive is the OCI image-layout as a tar (what `ctr images import` takes). */
  archive: Buffer;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  /** diffId is the digest of the uncompressed layer (rootfs.diff_ids in the config). */
  diffId: string;
}

const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** buildImage produces the OCI image-layout archive of spec. */
export function buildImage(spec: ImageSpec): BuiltImage {
  const layerTar = tar(spec.rootfs);
  const diffId = sha256(layerTar);
  const layer = gzipSync(layerTar, { level: 9 });
  const layerDigest = sha256(layer);
  const architecture = spec.architecture ?? ociArch();
  const config = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture,
      os: 'linux',
      config: {
        Env: spec.env ?? ['PATH=/bin:/sbin:/usr/bin:/usr/sbin'],
        Entrypoint: spec.entrypoint,
        ...(spec.cmd === undefined ? {} : { Cmd: spec.cmd }),
        WorkingDir: spec.workingDir ?? '/',
        ...(spec.exposedPorts === undefined
          ? {}
          : { ExposedPorts: Object.fromEntries(spec.exposedPorts.map((p) => [p, {}])) }),
        ...(spec.stopSignal === undefined ? {} : { StopSignal: spec.stopSignal }),
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'tugboat libs/images/src/build.ts' }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: MT_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: MT_INDEX,
    manifests: [
      {
        mediaType: MT_MANIFEST,
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture, os: 'linux' },
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  });
  const blob = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;
  const archive = tar([
    { type: 'file', path: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { type: 'file', path: 'index.json', data: index },
    { type: 'dir', path: 'blobs' },
    { type: 'dir', path: 'blobs/sha256' },
    { type: 'file', path: blob(layerDigest), data: layer },
    { type: 'file', path: blob(configDigest), data: config },
    { type: 'file', path: blob(manifestDigest), data: manifest },
  ]);
  return { name: spec.name, archive, manifestDigest, configDigest, layerDigest, diffId };
}

/** TarRecord is one entry read back from a tar archive (for tests and checks). */
export interface TarRecord {
  path: string;
  type: string;
  mode: number;
  linkname: string;
  data: Buffer;
}

/** untar parses a ustar archive (as written by tar above) into its records. */
export function untar(archive: Buffer): TarRecord[] {
  const out: TarRecord[] = [];
  const str = (off: number, len: number): string => {
    const raw = archive.subarray(off, off + len);
    const nul = raw.indexOf(0);
    return raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
  };
  for (let off = 0; off + BLOCK <= archive.length; ) {
    if (archive.subarray(off, off + BLOCK).every((b) => b === 0)) break;
    const name = str(off, 100);
    const prefix = str(off + 345, 155);
    const size = parseInt(str(off + 124, 12), 8);
    const sum = parseInt(str(off + 148, 8), 8);
    let actual = 0;
    for (let i = 0; i < BLOCK; i++) actual += i >= 148 && i < 156 ? 0x20 : (archive[off + i] ?? 0);
    if (sum !== actual) throw new Error(`untar: bad checksum for ${name}`);
    out.push({
      path: prefix === '' ? name : `${prefix}/${name}`,
      type: str(off + 156, 1),
      mode: parseInt(str(off + 100, 8), 8),
      linkname: str(off + 157, 100),
      data: Buffer.from(archive.subarray(off + BLOCK, off + BLOCK + size)),
    });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
