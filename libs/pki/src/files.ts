// files.ts: certificates and keys on disk. A key is written with mode 0600 and every file is
// replaced atomically (written beside, then renamed), so a reader never sees half of one and a
// renewal never leaves a certificate without its key. loadTls reads the three files a process
// is started with and checks them, naming the file of any problem.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  writeAtomically(keyFile, pair.keyPem, 0o600);
  writeAtomically(certFile, pair.certPem, 0o644);
  return { certFile, keyFile };
}

/** writeCertificate writes a certificate alone (the CA's, where its key must not go). */
export function writeCertificate(path: string, certPem: string): void {
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

/** loadTls reads files and checks that the certificate is the CA's and valid now, and that the
 *  key is the certificate's; a PkiError names the file and what is wrong. */
export function loadTls(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const ca = readPem(files.caFile, 'CA certificate');
  const cert = readPem(files.certFile, 'certificate');
  const key = readPem(files.keyFile, 'key');
  const why = verifyCertificate(cert.toString('utf8'), ca.toString('utf8'), now);
  if (why !== undefined) throw new PkiError(`certificate ${files.certFile}: ${why} (CA ${files.caFile})`);
  let matches: boolean;
  try {
    const fromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
    matches = fromKey.equals(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' }));
  } catch (err) {
    throw new PkiError(`key ${files.keyFile}: not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!matches) throw new PkiError(`key ${files.keyFile}: not the key of certificate ${files.certFile}`);
  return { ca, cert, key };
}
