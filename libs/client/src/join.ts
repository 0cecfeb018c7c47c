// join.ts: how a new node gets its certificates (after `kubeadm join`). It holds a bootstrap
// token and the hash of the cluster CA's public key, given out of band by whoever made the
// token (`tug token create` prints both):
//
// 1. It asks a member for the CA certificate (ClusterService.CaCertificate) over TLS without
//    checking the server, then checks the answer against the hash: a server that answers
//    another CA is refused, so nothing it says is believed.
// 2. It dials again trusting that CA alone and checking the server's certificate names the
//    address dialled, and sends the token with signing requests for keys it made and keeps
//    (ClusterService.Join). The token thus only ever goes to a member of the cluster.
//
// Each address is tried in turn while members are unreachable; a refusal (bad token, wrong
// hash) ends the join at once with the reason.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { CA_HASH_RE, caHash, makeSigningRequest, writeCertificate, writeKeyPairFiles, writePrivateKey } from '@tugboat/pki';
import type { Bootstrap, CertificateRole, KeyPair, TlsFiles } from '@tugboat/pki';
import { ClusterService, Status, anonymousTransport, createClient, hostOf, isGrpcError } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';

/** JoinIdentity is one certificate a joining node asks for. */
export interface JoinIdentity {
  readonly role: Extract<CertificateRole, 'agent' | 'member'>;
  /** commonName: the node's or member's name. */
  readonly commonName: string;
  /** ipAddresses and dnsNames it serves on (one at least). */
  readonly ipAddresses: readonly string[];
  readonly dnsNames?: readonly string[];
}

/** servedOn is the certificate names of "host:port" addresses: IP addresses and host names. */
export function servedOn(addresses: readonly string[]): Pick<JoinIdentity, 'ipAddresses' | 'dnsNames'> {
  const hosts = [...new Set(addresses.map(hostOf))];
  return { ipAddresses: hosts.filter((h) => isIP(h) !== 0), dnsNames: hosts.filter((h) => isIP(h) === 0) };
}

export interface JoinOptions {
  /** addresses: API addresses of members ("host:port"), tried in turn. */
  readonly addresses: readonly string[];
  /** token: ID.SECRET. */
  readonly token: string;
  /** caHash: "sha256:HEX" of the CA's SubjectPublicKeyInfo. */
  readonly caHash: string;
  readonly identities: readonly JoinIdentity[];
  /** timeoutMs bounds each call. Default 10,000. */
  readonly timeoutMs?: number;
}

/** Joined is what a join brings: the CA, a key pair per identity, the CA key for a member token. */
export interface Joined {
  readonly caPem: string;
  readonly pairs: readonly KeyPair[];
  readonly caKeyPem?: string;
  readonly clusterId: string;
  /** address: the member that answered. */
  readonly address: string;
}

/** JoinError is a join refused or impossible; its message says why. */
export class JoinError extends Error {
  override readonly name = 'JoinError';
  /** unreachable: no member answered (worth trying again), rather than a refusal. */
  readonly unreachable: boolean;
  constructor(message: string, opts: { cause?: unknown; unreachable?: boolean } = {}) {
    super(message, { cause: opts.cause });
    this.unreachable = opts.unreachable ?? false;
  }
}

/** withClient calls ClusterService at address over TLS without a certificate of its own (see anonymousTransport). */
async function withClient<T>(address: string, ca: Buffer | undefined, call: (c: ServiceClient<typeof ClusterService>) => Promise<T>): Promise<T> {
  const client = createClient(ClusterService, address, anonymousTransport(address, ca));
  try {
    return await call(client);
  } finally {
    client.close();
  }
}

/** pinnedCa asks address for the CA certificate and returns it if its hash is the pinned one. */
async function pinnedCa(address: string, pin: string, timeoutMs: number): Promise<string> {
  const { caPem } = await withClient(address, undefined, (c) => c.caCertificate({}, { timeoutMs }));
  let got: string;
  try {
    got = caHash(caPem);
  } catch (err) {
    throw new JoinError(`${address} answered no CA certificate: ${(err as Error).message}`, { cause: err });
  }
  if (got !== pin) throw new JoinError(`${address} answered a CA whose hash is ${got}, not the pinned ${pin}: it is not a member of that cluster (or the hash is wrong)`);
  return caPem;
}

/** joinCluster joins through the first member that answers (see the module comment). */
export async function joinCluster(opts: JoinOptions): Promise<Joined> {
  if (!CA_HASH_RE.test(opts.caHash)) throw new JoinError(`CA hash ${JSON.stringify(opts.caHash)} is not sha256: and 64 hex digits (tug token create prints it)`);
  if (opts.identities.length === 0) throw new JoinError('nothing to join as: give an identity');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const requests = await Promise.all(opts.identities.map((id) => makeSigningRequest(id)));
  const failures: string[] = [];
  for (const address of opts.addresses) {
    try {
      const caPem = await pinnedCa(address, opts.caHash, timeoutMs);
      const res = await withClient(address, Buffer.from(caPem), (c) =>
        c.join({ token: opts.token, requests: opts.identities.map((id, i) => ({ role: id.role, csrPem: requests[i]!.csrPem })) }, { timeoutMs }),
      );
      if (res.certificatesPem.length !== requests.length) throw new JoinError(`${address} answered ${res.certificatesPem.length} certificates for ${requests.length} requests`);
      return {
        caPem: res.caPem,
        pairs: requests.map((r, i) => ({ certPem: res.certificatesPem[i]!, keyPem: r.keyPem })),
        ...(res.caKeyPem === '' ? {} : { caKeyPem: res.caKeyPem }),
        clusterId: res.clusterId,
        address,
      };
    } catch (err) {
      if (isGrpcError(err) && (err.code === Status.UNAVAILABLE || err.code === Status.DEADLINE_EXCEEDED)) {
        failures.push(`${address}: ${err.message}`);
        continue;
      }
      if (err instanceof JoinError) throw err;
      throw new JoinError(`join through ${address}: ${(err as Error).message}`, { cause: err });
    }
  }
  throw new JoinError(`no member answered: ${failures.join('; ')}`, { unreachable: true });
}

/** JoinFlags are what a process is started with to join when it has no certificate yet: the
 *  token and CA hash, and members' API addresses. */
export interface JoinFlags extends Bootstrap {
  readonly addresses: readonly string[];
}

/** joinRetryMs: how long a starting process keeps trying while no member answers. */
const joinRetryMs = 120_000;

/**
 * joinUnlessCertified makes a process's TLS files by joining, when its certificate file does
 * not exist yet (a process restarted after it joined has it, and uses it): the CA certificate,
 * its key pair, and for a member token the CA key where caKeyFile says. While no member
 * answers it tries again every 2 s for two minutes, saying so in log. It resolves with the
 * member that answered, or undefined when there was nothing to do.
 */
export async function joinUnlessCertified(
  files: TlsFiles & { readonly caKeyFile?: string | undefined },
  join: JoinFlags,
  identity: JoinIdentity,
  log: { warn(fields: object, msg: string): void },
): Promise<string | undefined> {
  if (existsSync(files.certFile)) return undefined;
  const until = Date.now() + joinRetryMs;
  let joined: Joined;
  for (;;) {
    try {
      joined = await joinCluster({ addresses: join.addresses, token: join.token, caHash: join.caHash, identities: [identity] });
      break;
    } catch (err) {
      if (!(err instanceof JoinError) || !err.unreachable || Date.now() > until) throw err;
      log.warn({ err: err.message }, 'join: no member answered yet; trying again');
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  if (files.caKeyFile !== undefined && joined.caKeyPem !== undefined) writePrivateKey(files.caKeyFile, joined.caKeyPem);
  writeCertificate(files.caFile, joined.caPem);
  writeKeyPairFiles(files, joined.pairs[0]!);
  return joined.address;
}
