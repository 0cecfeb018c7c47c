// pki.ts: the cluster's certificates. A cluster CA (ECDSA P-256, self-signed) signs one
// certificate per control member (server and client: it serves the API and Raft and dials the
// other members), one per node agent (CN = the node's name), and admin clients. Certificates
// and keys are PEM text (keys PKCS #8), what Node's TLS and grpc-js read. The X.509 encoding
// is @peculiar/x509's, over Node's WebCrypto.
import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as typeof globalThis.crypto);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates start this much before they are made, so a peer whose clock is a little behind
 *  does not see them as not yet valid. */
const BACKDATE_MS = 5 * 60_000;

/** DEFAULT_CA_DAYS: the CA lasts ten years; DEFAULT_CERT_DAYS: what it signs, one. */
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 365;

/** KeyPair is a certificate and its private key, as PEM. */
export interface KeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Organizations a certificate's subject carries to say what its holder is (the API tells
 *  members, agents and admins apart by it). */
export const ROLE_ORGANIZATIONS = {
  member: 'tugboat:members',
  agent: 'tugboat:nodes',
  admin: 'tugboat:admins',
  viewer: 'tugboat:viewers',
} as const;
export type CertificateRole = keyof typeof ROLE_ORGANIZATIONS;

/** CertificateRequest says what to sign. */
export interface CertificateRequest {
  readonly role: CertificateRole;
  /** commonName: the member's or node's name, or the admin's. */
  readonly commonName: string;
  /** The names and addresses the holder serves on (server certificates); none for a client. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** validDays: default DEFAULT_CERT_DAYS. */
  readonly validDays?: number;
  /** now: default the clock (tests make expired certificates with it). */
  readonly now?: Date;
}

/** CertificateInfo is what a certificate says, for checks and for `tug` to show. */
export interface CertificateInfo {
  readonly commonName: string;
  readonly organization: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly isCa: boolean;
  /** serial, hex. */
  readonly serial: string;
}

export class PkiError extends Error {
  override readonly name = 'PkiError';
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new PkiError(`the CA key is not an ECDSA P-256 private key in PKCS #8 PEM: ${(err as Error).message}`, { cause: err });
  }
}

/** serialNumber is 16 random bytes, hex, with the top bit clear (serials are positive). */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function validity(now: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1) throw new PkiError(`validity must be a whole number of days from 1, got ${days}`);
  const t = (now ?? new Date()).getTime();
  return { notBefore: new Date(t - BACKDATE_MS), notAfter: new Date(t + days * DAY_MS) };
}

/** Names in certificates: DNS-1123-like names, no spaces, commas or quotes. */
const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._@-]{0,62})$/;

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) throw new PkiError(`${what} ${JSON.stringify(name)} is not a name of letters, digits, '.', '_', '@' and '-' (at most 63)`);
}

/** makeCa makes a cluster CA named after the cluster. */
export async function makeCa(clusterName: string, opts: { validDays?: number; now?: Date } = {}): Promise<KeyPair> {
  checkName('cluster name', clusterName);
  const keys = await newKeys();
  const name = `CN=tugboat-ca-${clusterName}, O=tugboat`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: name,
    issuer: name,
    ...validity(opts.now, opts.validDays ?? DEFAULT_CA_DAYS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** issueCertificate makes a key pair and a certificate for it, signed by ca. */
export async function issueCertificate(ca: KeyPair, req: CertificateRequest): Promise<KeyPair> {
  const keys = await newKeys();
  return { certPem: await signPublicKey(ca, keys.publicKey, req), keyPem: await keyPem(keys.privateKey) };
}

/** signPublicKey makes the certificate of req for a public key (of a checked signing request:
 *  readSigningRequest), signed by ca. The caller decides role, name and addresses. */
export async function signPublicKey(ca: KeyPair, publicKey: webcrypto.CryptoKey, req: CertificateRequest): Promise<string> {
  checkName('common name', req.commonName);
  const caCert = parseCertificate(ca.certPem, 'the CA certificate');
  const caKey = await importKey(ca.keyPem);
  const server = (req.dnsNames?.length ?? 0) + (req.ipAddresses?.length ?? 0) > 0;
  const usages = server ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const names: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${req.commonName}, O=${ROLE_ORGANIZATIONS[req.role]}`,
    issuer: caCert.subject,
    ...validity(req.now, req.validDays ?? DEFAULT_CERT_DAYS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
    ],
  });
  return cert.toString('pem');
}

/** SigningRequest is a PKCS #10 request (PEM) and the key it is for (PKCS #8 PEM), kept by its maker. */
export interface SigningRequest {
  readonly csrPem: string;
  readonly keyPem: string;
}

/** makeSigningRequest makes a key pair and a PKCS #10 request for it, naming the holder and the
 *  addresses it serves on (a joining node or a renewing process sends it; its key never leaves). */
export async function makeSigningRequest(req: { commonName: string; dnsNames?: readonly string[]; ipAddresses?: readonly string[] }): Promise<SigningRequest> {
  checkName('common name', req.commonName);
  const keys = await newKeys();
  const names: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${req.commonName}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : [],
  });
  return { csrPem: csr.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** SUBJECT_ALT_NAME_OID: a request's extensions are looked up by OID (the typed lookup is the certificate's). */
const SUBJECT_ALT_NAME_OID = '2.5.29.17';

/** RequestedIdentity is what a signing request asks for: the holder's name and addresses. */
export interface RequestedIdentity {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** readSigningRequest checks a PKCS #10 request (PEM, signed by its own ECDSA P-256 key) and
 *  returns what it asks for; a PkiError says what is wrong. */
export async function readSigningRequest(csrPem: string): Promise<RequestedIdentity & { readonly publicKey: webcrypto.CryptoKey }> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new PkiError(`not a PEM PKCS #10 certificate request: ${(err as Error).message}`, { cause: err });
  }
  let publicKey: webcrypto.CryptoKey;
  try {
    publicKey = (await csr.publicKey.export(KEY_ALGORITHM, ['verify'])) as webcrypto.CryptoKey;
  } catch (err) {
    throw new PkiError(`the request's key is not an ECDSA P-256 key: ${(err as Error).message}`, { cause: err });
  }
  if (!(await csr.verify().catch(() => false))) throw new PkiError('the request is not signed by its own key');
  const san = csr.getExtension(SUBJECT_ALT_NAME_OID);
  const json = san instanceof x509.SubjectAlternativeNameExtension ? san.names.toJSON() : [];
  return {
    commonName: csr.subjectName.getField('CN')[0] ?? '',
    dnsNames: json.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: json.filter((n) => n.type === 'ip').map((n) => n.value),
    publicKey,
  };
}

function parseCertificate(pem: string | Uint8Array, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new PkiError(`${what} is not a PEM X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
}

/** certificateInfo reads what a certificate (PEM, or DER bytes) says; `what` names it in errors. */
export function certificateInfo(pem: string | Uint8Array, what = 'the certificate'): CertificateInfo {
  const cert = parseCertificate(pem, what);
  const first = (type: string): string => cert.subjectName.getField(type)[0] ?? '';
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const json = san?.names.toJSON() ?? [];
  return {
    commonName: first('CN'),
    organization: first('O'),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: json.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: json.filter((n) => n.type === 'ip').map((n) => n.value),
    isCa: basic?.ca ?? false,
    serial: cert.serialNumber,
  };
}

/**
 * verifyCertificate checks that pem was signed by the CA and is valid at `now`; it returns why
 * not, or undefined when it is. (TLS checks the same on every connection; this is for the
 * files a process is given, so a wrong one is named at start.)
 */
export function verifyCertificate(pem: string, caPem: string, now: Date = new Date()): string | undefined {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(pem);
    ca = new X509Certificate(caPem);
  } catch (err) {
    return `not a PEM X.509 certificate: ${(err as Error).message}`;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return `not signed by the CA (${ca.subject.replaceAll('\n', ', ')})`;
  if (now < new Date(cert.validFrom)) return `not valid before ${new Date(cert.validFrom).toISOString()}`;
  if (now > new Date(cert.validTo)) return `expired at ${new Date(cert.validTo).toISOString()}`;
  return undefined;
}

/**
 * caHash is the pin of a CA certificate a joining node checks before it trusts what it is told
 * ("sha256:" and the hex SHA-256 of the certificate's SubjectPublicKeyInfo, as kubeadm prints).
 */
export function caHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
