// bootstrap-tokens.ts: tokens, after kubeadm's bootstrap tokens. A token is ID.SECRET, 6 and 16
// characters of [a-z0-9]; the ID is public (lists, logs), the secret is shown once, when the
// token is made, and the cluster keeps only its SHA-256 (the secret has 82 random bits, so a
// plain hash is enough). A token is for one of:
//
// - joining, as a node's agent or as a control member: it lasts from a minute to 30 days and
//   allows a number of joins or any number;
// - calling the API as an admin or a viewer (a bearer token, for `tug` without a client
//   certificate): it names the user it authenticates as and lasts up to a year.
//
// Tokens are objects of an internal, cluster-scoped kind in the replicated store: the
// ObjectService does not serve it; only ClusterService's token calls read and write it.
//
// Everything here is pure: the I/O is the control plane's (apps/control/src/token-store.ts).
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { TOKEN_FORM, TOKEN_RE } from '@tugboat/pki';
import { GrpcError, Status } from '@tugboat/proto';
import type { BootstrapToken, CreateTokenRequest } from '@tugboat/proto';
import type { KubeObject, StoredObject } from '@tugboat/store';

/** TOKEN_KIND is the internal kind of bootstrap tokens. */
export const TOKEN_KIND = 'BootstrapToken';

/** TOKEN_ROLES: what a token is for. A member token also signs the node's agent certificate. */
export const TOKEN_ROLES = ['agent', 'member', 'admin', 'viewer'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];
/** JOIN_ROLES: the roles of tokens nodes join with; the others are API bearer tokens. */
const JOIN_ROLES: ReadonlySet<string> = new Set(['agent', 'member']);

export const MIN_TOKEN_TTL_SECONDS = 60;
export const MAX_TOKEN_TTL_SECONDS = 30 * 86_400;
export const MAX_API_TOKEN_TTL_SECONDS = 365 * 86_400;

/** USER_RE: a user an API token names (a certificate's common name could be the same). */
const USER_RE = /^[a-z0-9]([a-z0-9._@-]{0,62})$/;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** TOKEN_ID_RE: a token's ID, its public part. */
export const TOKEN_ID_RE = /^[a-z0-9]{6}$/;

/** TokenRecord is a token as stored (the secret's hash, never the secret). */
export interface TokenRecord {
  readonly id: string;
  readonly secretHash: string;
  readonly role: TokenRole;
  readonly description: string;
  /** created and expires: RFC 3339. */
  readonly created: string;
  readonly expires: string;
  /** maxUses: 0 for any number. */
  readonly maxUses: number;
  readonly used: number;
  /** user: who an admin or viewer token authenticates as ('' for join tokens). */
  readonly user: string;
}

/** StoredToken is a record with the resourceVersion that guards counting a use. */
export type StoredToken = TokenRecord & { readonly resourceVersion: string };

function randomText(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** hashSecret is what the cluster keeps of a token's secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** parseToken splits "ID.SECRET"; INVALID_ARGUMENT names the expected form (never the token). */
export function parseToken(text: string): { id: string; secret: string } {
  const m = TOKEN_RE.exec(text.trim());
  if (m === null) throw new GrpcError(Status.INVALID_ARGUMENT, `token: not a bootstrap token: ${TOKEN_FORM}`);
  return { id: m[1]!, secret: m[2]! };
}

/** newToken plans a token for req at `now`: the record to store and the text to show once. */
export function newToken(req: CreateTokenRequest, now: Date): { record: TokenRecord; token: string } {
  const role = req.role === '' ? 'agent' : req.role;
  if (!(TOKEN_ROLES as readonly string[]).includes(role)) throw new GrpcError(Status.INVALID_ARGUMENT, `role: ${JSON.stringify(req.role)} is not one of ${TOKEN_ROLES.join(', ')}`);
  const join = JOIN_ROLES.has(role);
  const maxTtl = join ? MAX_TOKEN_TTL_SECONDS : MAX_API_TOKEN_TTL_SECONDS;
  if (req.ttlSeconds < MIN_TOKEN_TTL_SECONDS || req.ttlSeconds > maxTtl) {
    throw new GrpcError(Status.INVALID_ARGUMENT, `ttl_seconds: ${req.ttlSeconds} is not from ${MIN_TOKEN_TTL_SECONDS} (a minute) to ${maxTtl} (${join ? '30 days, for a join token' : 'a year'})`);
  }
  if (join && req.user !== '') throw new GrpcError(Status.INVALID_ARGUMENT, `user: a ${role} token joins a node; only admin and viewer tokens name a user`);
  if (!join && !USER_RE.test(req.user)) throw new GrpcError(Status.INVALID_ARGUMENT, `user: ${JSON.stringify(req.user.slice(0, 64))} is not a user name (lower-case letters, digits, '.', '_', '@', '-'; at most 63): an ${role} token needs one`);
  if (!join && req.maxUses !== 0) throw new GrpcError(Status.INVALID_ARGUMENT, 'max_uses: counts joins; an API token has no uses to count');
  if (req.description.length > 256) throw new GrpcError(Status.INVALID_ARGUMENT, `description: ${req.description.length} characters, more than 256`);
  const id = randomText(6);
  const secret = randomText(16);
  const record: TokenRecord = {
    id,
    secretHash: hashSecret(secret),
    role: role as TokenRole,
    description: req.description,
    created: now.toISOString(),
    expires: new Date(now.getTime() + req.ttlSeconds * 1000).toISOString(),
    maxUses: req.maxUses,
    used: 0,
    user: req.user,
  };
  return { record, token: `${id}.${secret}` };
}

/** tokenObject is the store object of a record. */
export function tokenObject(r: TokenRecord): KubeObject {
  const { id, ...spec } = r;
  return { apiVersion: 'tugboat.internal/v1', kind: TOKEN_KIND, metadata: { name: id }, spec: { ...spec } };
}

/** tokenRecord reads a stored token object. */
export function tokenRecord(o: StoredObject): StoredToken {
  const s = (o.spec ?? {}) as Partial<TokenRecord>;
  return {
    id: o.metadata.name,
    secretHash: s.secretHash ?? '',
    role: (TOKEN_ROLES as readonly string[]).includes(s.role ?? '') ? (s.role as TokenRole) : 'agent',
    description: s.description ?? '',
    created: s.created ?? '',
    expires: s.expires ?? '',
    maxUses: s.maxUses ?? 0,
    used: s.used ?? 0,
    user: s.user ?? '',
    resourceVersion: o.metadata.resourceVersion,
  };
}

/** isExpired: the token's time is up at `now`. */
export function isExpired(r: TokenRecord, now: Date): boolean {
  return !(now.getTime() < Date.parse(r.expires));
}

/** whyNotValid says why a token is not one with this secret that is valid at `now`, checking
 *  the secret in constant time; undefined: it is. The reasons name the ID, never the secret. */
function whyNotValid(r: TokenRecord | undefined, id: string, secret: string, now: Date): string | undefined {
  if (r === undefined) return `bootstrap token ${id} does not exist (it was deleted, or never made)`;
  const want = Buffer.from(r.secretHash, 'hex');
  const got = Buffer.from(hashSecret(secret), 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got)) return `bootstrap token ${id}: the secret does not match`;
  if (isExpired(r, now)) return `bootstrap token ${id} expired at ${r.expires}`;
  return undefined;
}

/** whyRefused says why a token may not sign `roles` at `now` (undefined: it may). */
export function whyRefused(r: TokenRecord | undefined, id: string, secret: string, roles: readonly string[], now: Date): string | undefined {
  const invalid = whyNotValid(r, id, secret, now);
  if (invalid !== undefined || r === undefined) return invalid;
  if (!JOIN_ROLES.has(r.role)) return `bootstrap token ${id} is ${r.role === 'admin' ? 'an admin' : 'a viewer'} token for calling the API; it does not join nodes`;
  if (r.maxUses > 0 && r.used >= r.maxUses) return `bootstrap token ${id} is used up (${r.used} of ${r.maxUses} joins)`;
  const beyond = roles.find((role) => role !== 'agent' && role !== r.role);
  if (beyond !== undefined) return `bootstrap token ${id} is for ${r.role}s: it may not sign a ${beyond} certificate`;
  return undefined;
}

/** whyNotBearer says why a token does not authenticate an API call at `now` (undefined: it does,
 *  as its user with its role). */
export function whyNotBearer(r: TokenRecord | undefined, id: string, secret: string, now: Date): string | undefined {
  const invalid = whyNotValid(r, id, secret, now);
  if (invalid !== undefined || r === undefined) return invalid;
  return JOIN_ROLES.has(r.role) ? `bootstrap token ${id} is for joining a node as ${r.role === 'agent' ? 'an agent' : 'a member'}; it does not call the API` : undefined;
}

/** tokenInfo is a record as ClusterService lists it. */
export function tokenInfo(r: TokenRecord): BootstrapToken {
  return { $typeName: 'tug.v1.BootstrapToken', id: r.id, role: r.role, description: r.description, created: r.created, expires: r.expires, maxUses: r.maxUses, used: r.used, user: r.user };
}
