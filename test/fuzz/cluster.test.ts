// cluster.test.ts: random and mutated requests of every ClusterService method against the real
// cluster service over an in-memory store with a test CA (the same handlers tug-control serves):
// bootstrap tokens made, listed and deleted with any values; joins with tokens that are real,
// mutated or random and signing requests that are real, corrupted or not one; renewals;
// membership changes and leadership transfers with any names and addresses. Every call answers
// within a second with a result or a status about the request (the calls here have no client
// certificate, so UNAUTHENTICATED is one too), and a refused join counts no use of any token.
//
// Bounded in `npm test` (TUG_FUZZ_RUNS, default 300 per method); `npm run fuzz` runs 20,000.
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { clusterService } from '@tugboat/apiserver';
import { TestApi } from '@tugboat/apiserver/testing';
import { makeCa, makeSigningRequest } from '@tugboat/pki';
import { ClusterService, Status, inProcessClient } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';
import { ABOUT_THE_REQUEST, answeredWithin, text } from './requests.ts';

const RUNS = Number(process.env['TUG_FUZZ_RUNS'] ?? 300);
const ALLOWED: ReadonlySet<number> = new Set([...ABOUT_THE_REQUEST, Status.UNAUTHENTICATED, Status.PERMISSION_DENIED]);

describe('fuzz: every ClusterService request, random and mutated', () => {
  const api = new TestApi();
  const client: ServiceClient<typeof ClusterService> = inProcessClient(ClusterService, clusterService(api));
  let token = '';
  let csrPem = '';
  before(async () => {
    const ca = await makeCa('fuzz');
    api.authority = { certPem: ca.certPem, keyPem: ca.keyPem };
    token = (await client.createToken({ ttlSeconds: 3600, role: 'member', description: 'fuzz', maxUses: 0 })).token;
    csrPem = (await makeSigningRequest({ commonName: 'node-f', ipAddresses: ['10.0.0.9'] })).csrPem;
  });

  /** tokens fingerprints every token: what a refused call must leave as it was. */
  const tokens = async (): Promise<string> => (await client.listTokens({})).tokens.map((t) => `${t.id}:${t.used}/${t.maxUses}`).join(',');
  const answered = async (write: boolean, call: () => Promise<unknown>): Promise<void> => {
    const before = write ? await tokens() : '';
    let refused = false;
    await answeredWithin(ALLOWED, undefined, () =>
      call().catch((err: unknown) => {
        refused = true;
        throw err;
      }),
    );
    if (write && refused && (await tokens()) !== before) throw new Error('a refused call changed the tokens');
  };

  /** tokenText is the real token, mutated, or any text. */
  const tokenText = (): fc.Arbitrary<string> =>
    fc.oneof(
      fc.constant('').map(() => token),
      fc.nat({ max: 22 }).chain((at) => fc.constantFrom('a', '0', '.', 'Z', '').map((c) => token.slice(0, at) + c + token.slice(at + 1))),
      fc.stringMatching(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
      text(),
    );
  /** csr is a real signing request, corrupted, cut, or any text. */
  const csr = (): fc.Arbitrary<string> =>
    fc.oneof(
      fc.constant('').map(() => csrPem),
      fc.tuple(fc.nat(), fc.constantFrom('A', '/', '+', '=', '\n')).map(([at, c]) => {
        const i = 40 + (at % Math.max(1, csrPem.length - 80));
        return csrPem.slice(0, i) + c + csrPem.slice(i + 1);
      }),
      fc.nat().map((n) => csrPem.slice(0, n % csrPem.length)),
      text(),
    );

  it('create, list and delete tokens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 4_000_000 }), fc.constantFrom('', 'agent', 'member', 'admin', 'x'.repeat(300)), text(), fc.nat({ max: 1_000 }), text(), async (ttlSeconds, role, description, maxUses, id) => {
        await answered(false, () => client.createToken({ ttlSeconds, role, description, maxUses }));
        await answered(false, () => client.listTokens({}));
        await answered(false, () => client.deleteToken({ id: id === '' ? token.slice(0, 6) + 'x' : id }));
      }),
      { numRuns: RUNS },
    );
  });

  it('join, and renew', async () => {
    const request = fc.record({ role: fc.constantFrom('agent', 'member', '', 'admin'), csrPem: csr() });
    await fc.assert(
      fc.asyncProperty(tokenText(), fc.array(request, { maxLength: 3 }), csr(), async (t, requests, renewal) => {
        await answered(true, () => client.join({ token: t, requests }));
        await answered(false, () => client.renewCertificate({ csrPem: renewal }));
        await answered(false, () => client.caCertificate({}));
      }),
      { numRuns: RUNS },
    );
  });

  it('membership, leadership, health and status', async () => {
    const address = fc.oneof(fc.constantFrom('127.0.0.1:7401', '10.0.0.1:1', ':80', 'h:0', 'h:99999'), text());
    await fc.assert(
      fc.asyncProperty(text(), address, address, async (name, peerAddress, apiAddress) => {
        await answered(false, () => client.addMember({ name, peerAddress, apiAddress }));
        await answered(false, () => client.removeMember({ name }));
        await answered(false, () => client.transferLeadership({ to: name }));
        await answered(false, () => client.health({}));
        await answered(false, () => client.status({}));
        await answered(false, () => client.memberStatus({}));
      }),
      { numRuns: RUNS },
    );
  });
});
