// test-pki.ts: a cluster CA for process harnesses (TugCluster, CommandLogCluster), made in the
// harness's temporary directory: each member gets a certificate naming its loopback address,
// the harness's own clients an admin certificate, so tests run with TLS on, as clusters do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caHash, issueCertificate, loadTls, makeCa, writeCertificate, writeKeyPair, writePrivateKey } from '@tugboat/pki';
import type { CertificateRole, KeyPair, TlsFiles } from '@tugboat/pki';

/** MemberTls is a member's TLS files, with the CA key it signs joins with. */
export type MemberTls = TlsFiles & { readonly caKeyFile: string };
import type { Security } from '@tugboat/proto';

export class TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  /** admin: the files of the harness's own clients (and of `tug` run by it). */
  readonly admin: TlsFiles;
  readonly #ca: KeyPair;

  private constructor(dir: string, ca: KeyPair, admin: TlsFiles) {
    this.dir = dir;
    this.#ca = ca;
    this.caFile = admin.caFile;
    this.caKeyFile = join(dir, 'ca.key');
    this.admin = admin;
  }

  /** create makes the CA and the admin certificate under DIR/pki. */
  static async create(dir: string): Promise<TestPki> {
    const pkiDir = join(dir, 'pki');
    const ca = await makeCa('test');
    const caFile = join(pkiDir, 'ca.crt');
    const admin = writeKeyPair(pkiDir, 'admin', await issueCertificate(ca, { role: 'admin', commonName: 'admin' }));
    writeCertificate(caFile, ca.certPem);
    writePrivateKey(join(pkiDir, 'ca.key'), ca.keyPem);
    return new TestPki(pkiDir, ca, { caFile, ...admin });
  }

  /** issueMember writes a member's certificate and key (its host as the IP SAN), issued now or
   *  issuedDaysAgo. */
  async issueMember(name: string, host: string, issuedDaysAgo = 0): Promise<MemberTls> {
    const now = new Date(Date.now() - issuedDaysAgo * 86_400_000);
    const pair = await issueCertificate(this.#ca, { role: 'member', commonName: name, ipAddresses: [host], now });
    return { caFile: this.caFile, caKeyFile: this.caKeyFile, ...writeKeyPair(this.dir, name, pair) };
  }

  /** caHash pins the test CA, as `tug token create` prints it. */
  get caHash(): string {
    return caHash(this.#ca.certPem);
  }

  /** clientSecurity issues a new client certificate (default an admin's, valid from now for a
   *  year) and returns it loaded: for tests of expired certificates and of other roles. */
  async clientSecurity(opts: { role?: CertificateRole; commonName?: string; validDays?: number; now?: Date } = {}): Promise<Security> {
    const pair = await issueCertificate(this.#ca, { role: 'admin', commonName: 'admin', ...opts });
    return { tls: { ca: readFileSync(this.caFile), cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) } };
  }

  /** adminSecurity is how the harness's clients dial. */
  adminSecurity(): Security {
    return { tls: loadTls(this.admin) };
  }
}

/** tlsArgs are the flags that give a member its files (or plain text). */
export function tlsArgs(files: MemberTls | undefined): string[] {
  return files === undefined ? ['--insecure-plaintext'] : ['--ca-file', files.caFile, '--cert-file', files.certFile, '--key-file', files.keyFile, '--ca-key-file', files.caKeyFile];
}
