// join.ts: ClusterService's calls for tokens, joining nodes and certificates
// (proto/tug/v1/api.proto), and the identity of calls made with an API token.
//
// - CreateToken, ListTokens, DeleteToken: join tokens and API tokens (bootstrap-tokens.ts);
//   admins and members only; writes run on the leader (a follower forwards them). The secret
//   is in CreateToken's answer only.
// - CaCertificate: the CA's certificate, to anyone (it is public; the joiner pins its hash).
// - Join: no client certificate needed, the bootstrap token is the credential. It runs on the
//   leader, which checks the token, counts the use (compare-and-swap, so a single-use token
//   signs once however many joins race) and signs each request with the CA key. The role comes
//   from the request and must be one the token allows; the name and addresses come from the
//   request. A member token also hands out the CA key: a control member signs too.
// - RenewCertificate: the caller's own identity (CN, role, addresses of the certificate it
//   calls with) for a new key, signed by the member that answers.
//
// - bearerIdentity: who calls with an admin or viewer token instead of a certificate.
//
// Refusals name the token by its ID, never its secret; the log says who joined as what.
import type { MessageInitShape } from '@bufbuild/protobuf';
import { PkiError, ROLE_ORGANIZATIONS, caHash, certificateInfo, readSigningRequest, signPublicKey } from '@tugboat/pki';
import type { CertificateRole, KeyPair } from '@tugboat/pki';
import { BEARER_METADATA, GrpcError, Status } from '@tugboat/proto';
import type { CallContext, CallOptions, ClusterService, JoinResponseSchema, ServiceClient, ServiceImpl } from '@tugboat/proto';
import { isStoreError } from '@tugboat/store';
import { allowClusterCall } from './authorization.ts';
import { TOKEN_ID_RE, newToken, parseToken, tokenInfo, whyNotBearer, whyRefused } from './bootstrap-tokens.ts';
import type { StoredToken, TokenRecord } from './bootstrap-tokens.ts';

/** TokenStore is the bootstrap tokens in the replicated store: reads of local state, writes
 *  through Raft (leader only) that throw StoreError. */
export interface TokenStore {
  get(id: string): StoredToken | undefined;
  list(): StoredToken[];
  create(r: TokenRecord): Promise<void>;
  /** countUse writes r with one more use, if it is still at r.resourceVersion (else Conflict). */
  countUse(r: StoredToken): Promise<void>;
  /** delete resolves false when there was no such token. */
  delete(id: string): Promise<boolean>;
}

/** CertificateAuthority is the CA as a member holds it: the certificate, and the key when the
 *  member was given it (--ca-key-file) and so signs. */
export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem?: string;
  /** validDays: how long the certificates it signs last. Default DEFAULT_CERT_DAYS (a year). */
  readonly validDays?: number;
}

/** JoinBackend is what these calls need from a control member (ClusterBackend has it all). */
export interface JoinBackend {
  readonly name: string;
  readonly clusterId: string;
  readonly log: { info(fields: object, msg: string): void; warn(fields: object, msg: string): void };
  isLeader(): boolean;
  /** tokens: the bootstrap tokens. */
  readonly tokens: TokenStore;
  /** certificateAuthority: the cluster CA as this member holds it; undefined without TLS. */
  certificateAuthority(): CertificateAuthority | undefined;
  /** readIndex waits until the local store reflects every write acknowledged before the call. */
  readIndex(ctx: CallContext): Promise<void>;
}

/** Forward runs a call on the leader's ClusterService. */
type Forward = <T>(what: string, ctx: CallContext, call: (c: ServiceClient<typeof ClusterService>, o: CallOptions) => Promise<T>) => Promise<T>;

type JoinCalls = Pick<ServiceImpl<typeof ClusterService>, 'createToken' | 'listTokens' | 'deleteToken' | 'caCertificate' | 'join' | 'renewCertificate'>;

/** maxJoinRequests: an agent certificate, and a member's. */
const maxJoinRequests = 2;
/** useAttempts bounds the retries of counting a use that raced another join. */
const useAttempts = 5;

/** nameRe: a DNS-1123 subdomain, what Node names are (member names are labels, a subset). */
const nameRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** validity is how long a signer's certificates last, as signPublicKey takes it. */
function validity(signer: { validDays?: number }): { validDays?: number } {
  return signer.validDays === undefined ? {} : { validDays: signer.validDays };
}

/** roleOf maps a certificate's organization back to its role. */
function roleOf(organization: string): CertificateRole | undefined {
  return (Object.entries(ROLE_ORGANIZATIONS) as [CertificateRole, string][]).find(([, o]) => o === organization)?.[0];
}

export function joinCalls(p: JoinBackend, forward: Forward): JoinCalls {
  const ca = (): CertificateAuthority => {
    const held = p.certificateAuthority();
    if (held === undefined) throw new GrpcError(Status.FAILED_PRECONDITION, `${p.name} serves without TLS (--insecure-plaintext): there is no cluster CA`);
    return held;
  };
  const signer = (): KeyPair & { validDays?: number } => {
    const held = ca();
    if (held.keyPem === undefined) throw new GrpcError(Status.FAILED_PRECONDITION, `${p.name} holds no CA key (--ca-key-file), so it cannot sign certificates`);
    return { certPem: held.certPem, keyPem: held.keyPem, ...(held.validDays === undefined ? {} : { validDays: held.validDays }) };
  };

  /** readRequests checks every request before anything is counted or signed. */
  const readRequests = async (req: { requests: readonly { role: string; csrPem: string }[] }) => {
    if (req.requests.length === 0 || req.requests.length > maxJoinRequests) {
      throw new GrpcError(Status.INVALID_ARGUMENT, `requests: ${req.requests.length} certificate requests; give 1 or ${maxJoinRequests} (an agent's, and a member's)`);
    }
    return Promise.all(
      req.requests.map(async (r, i) => {
        const field = `requests[${i}]`;
        if (r.role !== 'agent' && r.role !== 'member') throw new GrpcError(Status.INVALID_ARGUMENT, `${field}.role: ${JSON.stringify(r.role)} is not agent or member`);
        let asked;
        try {
          asked = await readSigningRequest(r.csrPem);
        } catch (err) {
          if (err instanceof PkiError) throw new GrpcError(Status.INVALID_ARGUMENT, `${field}.csr_pem: ${err.message}`);
          throw err;
        }
        if (!nameRe.test(asked.commonName)) throw new GrpcError(Status.INVALID_ARGUMENT, `${field}.csr_pem: the subject's CN ${JSON.stringify(asked.commonName)} is not a DNS-1123 subdomain (the node's or member's name)`);
        if (asked.ipAddresses.length + asked.dnsNames.length === 0) {
          throw new GrpcError(Status.INVALID_ARGUMENT, `${field}.csr_pem: no subjectAltName: name the addresses the ${r.role} serves on`);
        }
        return { role: r.role as CertificateRole, ...asked };
      }),
    );
  };

  /** useToken checks the token and counts one use (leader only); it returns the token. */
  const useToken = async (text: string, roles: readonly string[], ctx: CallContext): Promise<StoredToken> => {
    const { id, secret } = parseToken(text);
    for (let attempt = 1; ; attempt++) {
      const r = p.tokens.get(id);
      const why = whyRefused(r, id, secret, roles, new Date());
      if (why !== undefined || r === undefined) {
        p.log.warn({ token: id, peer: ctx.peer, reason: why }, 'join refused');
        throw new GrpcError(Status.UNAUTHENTICATED, `join refused: ${why ?? ''}`);
      }
      try {
        await p.tokens.countUse(r);
        return r;
      } catch (err) {
        if (attempt >= useAttempts || !isStoreError(err, 'Conflict')) throw err;
      }
    }
  };

  return {
    async createToken(req, ctx) {
      allowClusterCall(ctx, 'manage bootstrap tokens');
      if (!p.isLeader()) return forward('create token', ctx, (c, o) => c.createToken(req, o));
      const authority = ca();
      const { record, token } = newToken(req, new Date());
      await p.tokens.create(record);
      p.log.info({ token: record.id, role: record.role, expires: record.expires, maxUses: record.maxUses }, 'bootstrap token created');
      return { token, info: tokenInfo(record), caHash: caHash(authority.certPem) };
    },

    async listTokens(_req, ctx) {
      allowClusterCall(ctx, 'manage bootstrap tokens');
      await p.readIndex(ctx);
      return { tokens: p.tokens.list().map(tokenInfo) };
    },

    async deleteToken(req, ctx) {
      allowClusterCall(ctx, 'manage bootstrap tokens');
      if (!TOKEN_ID_RE.test(req.id)) throw new GrpcError(Status.INVALID_ARGUMENT, `id: ${JSON.stringify(req.id.slice(0, 64))} is not a bootstrap token ID (6 characters of a-z and 0-9)`);
      if (!p.isLeader()) return forward('delete token', ctx, (c, o) => c.deleteToken(req, o));
      if (!(await p.tokens.delete(req.id))) throw new GrpcError(Status.NOT_FOUND, `bootstrap token ${JSON.stringify(req.id)} not found`);
      p.log.info({ token: req.id }, 'bootstrap token deleted');
      return {};
    },

    async caCertificate() {
      return { caPem: ca().certPem };
    },

    async join(req, ctx) {
      parseToken(req.token);
      const requests = await readRequests(req);
      if (!p.isLeader()) return forward('join', ctx, (c, o) => c.join(req, o));
      const authority = signer();
      const token = await useToken(
        req.token,
        requests.map((r) => r.role),
        ctx,
      );
      const certificatesPem = await Promise.all(
        requests.map((r) =>
          signPublicKey(authority, r.publicKey, { role: r.role, commonName: r.commonName, ipAddresses: r.ipAddresses, dnsNames: r.dnsNames, ...validity(authority) }),
        ),
      );
      for (const r of requests) p.log.info({ token: token.id, role: r.role, name: r.commonName, addresses: [...r.ipAddresses, ...r.dnsNames], peer: ctx.peer }, 'join: certificate signed');
      const answer: MessageInitShape<typeof JoinResponseSchema> = { certificatesPem, caPem: authority.certPem, clusterId: p.clusterId };
      return requests.some((r) => r.role === 'member') ? { ...answer, caKeyPem: authority.keyPem } : answer;
    },

    async renewCertificate(req, ctx) {
      const who = ctx.identity;
      if (who?.certificateDer === undefined) throw new GrpcError(Status.UNAUTHENTICATED, 'renew: call with the certificate to renew');
      const role = roleOf(who.organization);
      if (role === undefined) throw new GrpcError(Status.PERMISSION_DENIED, `renew: the certificate's organization ${JSON.stringify(who.organization)} is no role of this cluster`);
      const authority = signer();
      let asked;
      try {
        asked = await readSigningRequest(req.csrPem);
      } catch (err) {
        if (err instanceof PkiError) throw new GrpcError(Status.INVALID_ARGUMENT, `csr_pem: ${err.message}`);
        throw err;
      }
      const current = certificateInfo(who.certificateDer);
      const certificatePem = await signPublicKey(authority, asked.publicKey, {
        role,
        commonName: current.commonName,
        ipAddresses: current.ipAddresses,
        dnsNames: current.dnsNames,
        ...validity(authority),
      });
      p.log.info({ name: current.commonName, role, previousNotAfter: current.notAfter.toISOString() }, 'certificate renewed');
      return { certificatePem };
    },
  };
}

/**
 * bearerIdentity is the identity of a call made with an API token (`authorization: Bearer
 * ID.SECRET`, an admin or viewer token) instead of a client certificate: the token's user, in
 * its role's organization. A call with a certificate, or with neither (in-process), is as it
 * came. A token this member does not hold yet is looked for again after a read index, so a
 * token works at every member as soon as it is made. A token that does not authenticate is
 * UNAUTHENTICATED, naming its ID and why.
 */
export async function bearerIdentity(tokens: Pick<TokenStore, 'get'>, readIndex: (ctx: CallContext) => Promise<void>, ctx: CallContext, now: Date): Promise<CallContext> {
  if (ctx.identity !== undefined) return ctx;
  const header = String(ctx.metadata.get(BEARER_METADATA)[0] ?? '');
  if (header === '') return ctx;
  if (!header.startsWith('Bearer ')) throw new GrpcError(Status.UNAUTHENTICATED, `the ${BEARER_METADATA} metadata is not "Bearer ID.SECRET"`);
  let parsed: { id: string; secret: string };
  try {
    parsed = parseToken(header.slice('Bearer '.length));
  } catch {
    throw new GrpcError(Status.UNAUTHENTICATED, 'the bearer token is not of the form ID.SECRET (6 and 16 characters of a-z and 0-9)');
  }
  let r = tokens.get(parsed.id);
  if (r === undefined) {
    await readIndex(ctx);
    r = tokens.get(parsed.id);
  }
  const why = whyNotBearer(r, parsed.id, parsed.secret, now);
  if (why !== undefined || r === undefined) throw new GrpcError(Status.UNAUTHENTICATED, `unauthenticated: ${why ?? ''}`);
  return { ...ctx, identity: { commonName: r.user, organization: ROLE_ORGANIZATIONS[r.role as CertificateRole] } };
}
