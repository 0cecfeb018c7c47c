// files.ts: certificates and keys on disk. A key is written with mode 0600 and every file is
// replaced atomically (written beside, then renamed), so a reader never sees half of one and a
// renewal never leaves a certificate without its key. loadTls reads the three files a process
// is started with and checks them, naming the file of any problem.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KeyPair } from './pki.ts';
import { PkiError, verifyCertificate } from './pki.ts';

/** TlsFiles are the paths a process is given: the CA to trust, its certificate and its key. */
export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** TlsMaterial is what TlsFiles hold (PEM bytes), as grpc-js takes it. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function writeAtomically(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** writeKeyPair writes DIR/NAME.crt (0644) and DIR/NAME.key (0600); returns their paths. */
export function writeKeyPair(dir: string, name: string, pair: KeyPair): { certFile: string; keyFile: string } {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  writeKeyPairFiles(files, pair);
  return files;
}

/** writeKeyPairFiles writes a key (0600) and then its certificate (0644) where files say,
 *  making their folders. */
export function writeKeyPairFiles(files: { readonly certFile: string; readonly keyFile: string }, pair: KeyPair): void {
  mkdirSync(dirname(files.keyFile), { recursive: true, mode: 0o755 });
  mkdirSync(dirname(files.certFile), { recursive: true, mode: 0o755 });
  writeAtomically(files.keyFile, pair.keyPem, 0o600);
  writeAtomically(files.certFile, pair.certPem, 0o644);
}

/** writePrivateKey writes a key alone (0600): the CA's, on a member that joined. */
export function writePrivateKey(path: string, keyPem: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeAtomically(path, keyPem, 0o600);
}

/** writeCertificate writes a certificate alone (the CA's, where its key must not go). */
export function writeCertificate(path: string, certPem: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeAtomically(path, certPem, 0o644);
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PkiError(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
}

/** readCaFile reads a CA certificate file and checks it is one (a PkiError names the file). */
export function readCaFile(path: string): Buffer {
  const ca = readPem(path, 'CA certificate');
  try {
    new X509Certificate(ca);
  } catch (err) {
    throw new PkiError(`CA certificate ${path}: not a PEM X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
  return ca;
}

/** keyMatches tells whether a PEM private key is the key of a PEM certificate; a PkiError
 *  names keyFile when the key cannot be read. */
function keyMatches(key: Buffer, cert: Buffer, keyFile: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
    return fromKey.equals(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' }));
  } catch (err) {
    throw new PkiError(`key ${keyFile}: not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
}

/** loadCaKey reads the CA's key and checks it is the key of the CA certificate ca (PEM). */
export function loadCaKey(keyFile: string, ca: Buffer): KeyPair {
  const key = readPem(keyFile, 'CA key');
  if (!keyMatches(key, ca, keyFile)) throw new PkiError(`CA key ${keyFile}: not the key of the cluster CA`);
  return { certPem: ca.toString('utf8'), keyPem: key.toString('utf8') };
}

/** loadTls reads files and checks that the certificate is the CA's and valid now, and that the
 *  key is the certificate's; a PkiError names the file and what is wrong. */
export function loadTls(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const ca = readPem(files.caFile, 'CA certificate');
  const cert = readPem(files.certFile, 'certificate');
  const key = readPem(files.keyFile, 'key');
  const why = verifyCertificate(cert.toString('utf8'), ca.toString('utf8'), now);
  if (why !== undefined) throw new PkiError(`certificate ${files.certFile}: ${why} (CA ${files.caFile})`);
  if (!keyMatches(key, cert, files.keyFile)) throw new PkiError(`key ${files.keyFile}: not the key of certificate ${files.certFile}`);
  return { ca, cert, key };
}
