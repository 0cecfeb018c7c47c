// renewal.ts: a process renews its own certificate before it expires. Once two thirds of the
// certificate's time have passed (after eight months of a year), it makes a new key and asks a
// control member to sign it for the identity it has (ClusterService.RenewCertificate: the
// name, role and addresses come from the certificate it calls with), writes the pair where it
// was started from (each file replaced atomically, the key first), and hands the pair to its
// servers and clients: new connections show it, open ones keep the old one while it is valid.
// A failed attempt is logged and tried again a minute later.
import { certificateInfo, loadTls, makeSigningRequest, verifyCertificate, writeKeyPairFiles } from '@tugboat/pki';
import type { TlsFiles, TlsMaterial } from '@tugboat/pki';
import { sourceOf } from '@tugboat/proto';

/** renewalDue tells whether a certificate valid from notBefore to notAfter should be renewed at now. */
export function renewalDue(notBefore: Date, notAfter: Date, now: Date): boolean {
  const life = notAfter.getTime() - notBefore.getTime();
  return now.getTime() >= notBefore.getTime() + (life * 2) / 3;
}

export interface RenewalOptions {
  /** security: the process's TLS (its certificate source gets the renewed pair). */
  readonly security: { readonly tls: TlsMaterial };
  /** files: where the process's certificate and key are kept. */
  readonly files: TlsFiles;
  /** renew asks the cluster to sign csrPem for the caller's identity (ClusterClient.renewCertificate). */
  readonly renew: (csrPem: string) => Promise<string>;
  readonly log: { info(fields: object, msg: string): void; warn(fields: object, msg: string): void };
  /** checkEveryMs: how often the certificate's age is looked at. Default an hour. */
  readonly checkEveryMs?: number;
  /** firstCheckMs: when the first look is, after start. Default 10 s. */
  readonly firstCheckMs?: number;
  /** retryMs: the wait after a failed attempt. Default a minute. */
  readonly retryMs?: number;
}

export class CertificateRenewal {
  readonly #opts: RenewalOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: RenewalOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#schedule(this.#opts.firstCheckMs ?? 10_000);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), ms);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    let next = this.#opts.checkEveryMs ?? 3_600_000;
    try {
      await this.renewIfDue(new Date());
    } catch (err) {
      this.#opts.log.warn({ certFile: this.#opts.files.certFile, err: (err as Error).message }, 'certificate renewal failed; trying again');
      next = this.#opts.retryMs ?? 60_000;
    }
    this.#schedule(next);
  }

  /** renewIfDue renews the certificate when renewalDue says so; resolves whether it did. */
  async renewIfDue(now: Date): Promise<boolean> {
    const source = sourceOf(this.#opts.security);
    const info = certificateInfo(source.current.cert.toString('utf8'));
    if (!renewalDue(info.notBefore, info.notAfter, now)) return false;
    const request = await makeSigningRequest({ commonName: info.commonName });
    const certPem = await this.#opts.renew(request.csrPem);
    const why = verifyCertificate(certPem, source.current.ca.toString('utf8'));
    if (why !== undefined) throw new Error(`the renewed certificate is ${why}`);
    writeKeyPairFiles(this.#opts.files, { certPem, keyPem: request.keyPem });
    const written = loadTls(this.#opts.files);
    source.replace(written.cert, written.key);
    const renewed = certificateInfo(certPem);
    this.#opts.log.info({ certFile: this.#opts.files.certFile, name: renewed.commonName, previousNotAfter: info.notAfter.toISOString(), notAfter: renewed.notAfter.toISOString() }, 'certificate renewed');
    return true;
  }
}
