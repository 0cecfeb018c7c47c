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
 *  key file holds a private key; a PkiError names the file and what is wrong. */
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

/** TransportChoice is what a process's TLS flags chose: files to load, or plain text. */
export type TransportChoice = { readonly tls: TlsFiles } | { readonly insecurePlaintext: true };

/** tlsFlagsUsage is the help of the flags tlsFlags reads, with the descriptions at `column`
 *  (tug-control and tug-agent align them differently). */
export function tlsFlagsUsage(column: number): string {
  const flags: [string, string][] = [
    ['--ca-file FILE', 'the cluster CA certificate: every peer must show a certificate it signed'],
    ['--cert-file FILE', "this process's certificate, signed by the cluster CA"],
    ['--key-file FILE', 'its private key'],
    ['--insecure-plaintext', 'serve and dial without TLS, instead of the three above (anyone who reaches the ports can read and change everything)'],
  ];
  const width = 96 - column;
  return flags
    .map(([flag, text]) => {
      const lines: string[] = [];
      let line = '';
      for (const word of text.split(' ')) {
        if (line !== '' && line.length + 1 + word.length > width) {
          lines.push(line);
          line = word;
        } else line = line === '' ? word : `${line} ${word}`;
      }
      lines.push(line);
      return `  ${flag.padEnd(column - 3)} ${lines.join(`\n${' '.repeat(column)}`)}`;
    })
    .join('\n');
}

/** tlsFlags reads --ca-file, --cert-file, --key-file and --insecure-plaintext: the three files
 *  together, or plain text alone; `fail` is called with the flag and the problem otherwise. */
export function tlsFlags(
  v: { readonly 'ca-file'?: string | undefined; readonly 'cert-file'?: string | undefined; readonly 'key-file'?: string | undefined; readonly 'insecure-plaintext'?: boolean | undefined },
  fail: (flag: string, message: string) => never,
): TransportChoice {
  const given = (['ca-file', 'cert-file', 'key-file'] as const).filter((f) => v[f] !== undefined);
  if (v['insecure-plaintext'] === true) {
    if (given.length > 0) fail('insecure-plaintext', `cannot be combined with --${given[0]}`);
    return { insecurePlaintext: true };
  }
  for (const f of ['ca-file', 'cert-file', 'key-file'] as const) {
    if ((v[f] ?? '') === '') fail(f, 'is required: TLS needs --ca-file, --cert-file and --key-file (or --insecure-plaintext, to run without it)');
  }
  return { tls: { caFile: v['ca-file'] ?? '', certFile: v['cert-file'] ?? '', keyFile: v['key-file'] ?? '' } };
}
