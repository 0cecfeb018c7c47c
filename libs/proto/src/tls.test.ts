// tls.test.ts: servers and clients with mutual TLS under a cluster CA, over 127.0.0.1: a client
// with a certificate of the CA is served; one without a certificate, with one of another CA or
// with an expired one is refused with UNAUTHENTICATED, and the server hears of each refusal;
// a client refuses a server whose certificate is not the CA's or not for the address dialled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { issueCertificate, makeCa } from '@tugboat/pki';
import type { KeyPair, TlsMaterial } from '@tugboat/pki';
import {
  EchoService,
  INSECURE_PLAINTEXT,
  REFUSAL_REASON,
  Server,
  Status,
  addService,
  bindServer,
  clientTransport,
  createClient,
  credentials,
  isGrpcError,
  serverCredentials,
  shutdownServer,
} from '@tugboat/proto';
import type { Refusal, Security } from '@tugboat/proto';

const material = (ca: KeyPair, pair: KeyPair): TlsMaterial => ({ ca: Buffer.from(ca.certPem), cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) });

describe('mutual TLS under the cluster CA', () => {
  let ca: KeyPair;
  let serverPair: KeyPair;
  const servers: Server[] = [];
  const refusals: Refusal[] = [];

  const serve = async (security: Security): Promise<number> => {
    const server = new Server();
    servers.push(server);
    addService(server, EchoService, {
      async echo(req) {
        return { message: req.message };
      },
      async *echoStream() {},
      async echoCollect() {
        return {};
      },
      async *echoChat() {},
    });
    return bindServer(server, '127.0.0.1:0', serverCredentials(security, (r) => refusals.push(r)));
  };

  const echo = async (port: number, security: Security, host = '127.0.0.1'): Promise<string> => {
    const address = `${host}:${port}`;
    const client = createClient(EchoService, address, { ...clientTransport(security, address), defaultTimeoutMs: 5_000 });
    try {
      return (await client.echo({ message: 'hi' })).message;
    } finally {
      client.close();
    }
  };

  const refusedWith = async (call: Promise<unknown>, code: number, detail: RegExp): Promise<void> => {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(isGrpcError(err), `a gRPC error, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, detail);
      return true;
    });
  };

  let port = 0;
  before(async () => {
    ca = await makeCa('test');
    serverPair = await issueCertificate(ca, { role: 'member', commonName: 'm1', ipAddresses: ['127.0.0.1'] });
    port = await serve({ tls: material(ca, serverPair) });
  });
  after(async () => {
    await Promise.all(servers.map((s) => shutdownServer(s, 100)));
  });

  test('serves a client with a certificate of the cluster CA', async () => {
    const admin = await issueCertificate(ca, { role: 'admin', commonName: 'admin' });
    assert.equal(await echo(port, { tls: material(ca, admin) }), 'hi');
  });

  test('refuses a client without a certificate, of another CA, or expired; each refusal heard', async () => {
    const before = refusals.length;
    const other = await makeCa('other');
    const foreign = await issueCertificate(other, { role: 'admin', commonName: 'admin' });
    const expired = await issueCertificate(ca, { role: 'admin', commonName: 'admin', validDays: 1, now: new Date(Date.now() - 2 * 86_400_000) });
    const unauthenticated = new RegExp(`unauthenticated: ${REFUSAL_REASON.replace(/[()]/g, '\\$&')}`);
    const anonymous = createClient(EchoService, `127.0.0.1:${port}`, {
      credentials: credentials.createSsl(Buffer.from(ca.certPem)),
      defaultTimeoutMs: 5_000,
    });
    try {
      await refusedWith(anonymous.echo({ message: 'x' }), Status.UNAUTHENTICATED, unauthenticated);
    } finally {
      anonymous.close();
    }
    // A client of another CA trusts that CA only; it still checks this server against ours.
    await refusedWith(echo(port, { tls: { ...material(other, foreign), ca: Buffer.from(ca.certPem) } }), Status.UNAUTHENTICATED, unauthenticated);
    await refusedWith(echo(port, { tls: material(ca, expired) }), Status.UNAUTHENTICATED, unauthenticated);
    assert.equal(refusals.length - before, 3);
    for (const r of refusals.slice(before)) {
      assert.match(r.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(r.method, '/tug.v1.EchoService/Echo');
    }
  });

  test('a client refuses a server of another CA, and one whose certificate is not for the address dialled', async () => {
    const admin = material(ca, await issueCertificate(ca, { role: 'admin', commonName: 'admin' }));
    const other = await makeCa('other');
    const impostor = await serve({ tls: material(other, await issueCertificate(other, { role: 'member', commonName: 'x', ipAddresses: ['127.0.0.1'] })) });
    await refusedWith(echo(impostor, { tls: admin }), Status.UNAVAILABLE, /certificate/i);
    const elsewhere = await serve({ tls: material(ca, await issueCertificate(ca, { role: 'member', commonName: 'm2', ipAddresses: ['127.0.0.2'] })) });
    await refusedWith(echo(elsewhere, { tls: admin }), Status.UNAVAILABLE, /IP: 127\.0\.0\.1 is not in the cert's list: 127\.0\.0\.2/);
  });

  test('plain text only when asked for, on both sides', async () => {
    const plain = await serve(INSECURE_PLAINTEXT);
    assert.equal(await echo(plain, INSECURE_PLAINTEXT), 'hi');
    await refusedWith(echo(port, INSECURE_PLAINTEXT), Status.UNAVAILABLE, /./);
  });
});
