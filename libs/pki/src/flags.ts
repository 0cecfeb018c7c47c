// flags.ts: the TLS flags tug-control and tug-agent share (--ca-file, --cert-file, --key-file,
// or --insecure-plaintext): reading them and their help text.
import type { TlsFiles } from './files.ts';

/** TOKEN_RE: a token, ID.SECRET (6 and 16 characters of a-z and 0-9); the groups are the two parts. */
export const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
/** TOKEN_FORM says what TOKEN_RE wants, for messages. */
export const TOKEN_FORM = 'the form is ID.SECRET, 6 and 16 characters of a-z and 0-9';
/** CA_HASH_RE: a CA hash as caHash writes it. */
export const CA_HASH_RE = /^sha256:[0-9a-f]{64}$/;

/** Bootstrap is a bootstrap token and the CA hash that comes with it (tug token create). */
export interface Bootstrap {
  readonly token: string;
  readonly caHash: string;
}

/** TransportChoice is what a process's TLS flags chose: files to load (made first by joining
 *  with `bootstrap` when the certificate file is missing), or plain text. */
export type TransportChoice = { readonly tls: TlsFiles; readonly bootstrap?: Bootstrap } | { readonly insecurePlaintext: true };

/** tlsFlagsUsage is the help of the flags tlsFlags reads, with the descriptions at `column`
 *  (tug-control and tug-agent align them differently). */
export function tlsFlagsUsage(column: number): string {
  const flags: [string, string][] = [
    ['--ca-file FILE', 'the cluster CA certificate: every peer must show a certificate it signed'],
    ['--cert-file FILE', "this process's certificate, signed by the cluster CA"],
    ['--key-file FILE', 'its private key'],
    ['--token ID.SECRET', 'a bootstrap token (tug token create): when --cert-file does not exist yet, join with it first, writing the three files'],
    ['--ca-hash sha256:HEX', 'the CA hash that comes with the token: the CA a member answers must have it'],
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

/** tlsFlags reads --ca-file, --cert-file, --key-file, --token, --ca-hash and
 *  --insecure-plaintext: the three files together (and the token with its hash, to join), or
 *  plain text alone; `fail` is called with the flag and the problem otherwise. The token's
 *  value is never in a message. */
export function tlsFlags(
  v: {
    readonly 'ca-file'?: string | undefined;
    readonly 'cert-file'?: string | undefined;
    readonly 'key-file'?: string | undefined;
    readonly token?: string | undefined;
    readonly 'ca-hash'?: string | undefined;
    readonly 'insecure-plaintext'?: boolean | undefined;
  },
  fail: (flag: string, message: string) => never,
): TransportChoice {
  const given = (['ca-file', 'cert-file', 'key-file', 'token', 'ca-hash'] as const).filter((f) => v[f] !== undefined);
  if (v['insecure-plaintext'] === true) {
    if (given.length > 0) fail('insecure-plaintext', `cannot be combined with --${given[0]}`);
    return { insecurePlaintext: true };
  }
  for (const f of ['ca-file', 'cert-file', 'key-file'] as const) {
    if ((v[f] ?? '') === '') fail(f, 'is required: TLS needs --ca-file, --cert-file and --key-file (or --insecure-plaintext, to run without it)');
  }
  const tls = { caFile: v['ca-file'] ?? '', certFile: v['cert-file'] ?? '', keyFile: v['key-file'] ?? '' };
  if (v.token === undefined && v['ca-hash'] === undefined) return { tls };
  if (v.token === undefined) fail('ca-hash', 'comes with --token (the CA hash pins the CA the token joins)');
  if (!TOKEN_RE.test(v.token ?? '')) fail('token', `is not a bootstrap token: ${TOKEN_FORM}`);
  if (!CA_HASH_RE.test(v['ca-hash'] ?? '')) fail('ca-hash', `${v['ca-hash'] === undefined ? 'is required with --token' : 'is not sha256: and 64 hex digits'} (tug token create prints it)`);
  return { tls, bootstrap: { token: v.token ?? '', caHash: v['ca-hash'] ?? '' } };
}
