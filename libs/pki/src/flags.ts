// flags.ts: the TLS flags tug-control and tug-agent share (--ca-file, --cert-file, --key-file,
// or --insecure-plaintext): reading them and their help text.
import type { TlsFiles } from './files.ts';

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
