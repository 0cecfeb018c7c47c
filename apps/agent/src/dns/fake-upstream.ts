// fake-upstream.ts: an upstream DNS server for tests of forwarding. It serves UDP and TCP on one
// port of a loopback address and, depending on `mode`, answers every A query with
// FAKE_UPSTREAM_ADDRESS, answers SERVFAIL, answers first with a wrong id and then rightly
// (UDP), or says nothing. It records every query it gets.
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server as TcpServer, Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Transport } from './forward.ts';
import { FrameReader, frameMessage } from './wire.ts';

/** FAKE_UPSTREAM_ADDRESS is the address the fake answers for every name (TEST-NET-1). */
export const FAKE_UPSTREAM_ADDRESS = '192.0.2.53';

export type FakeUpstreamMode = 'answer' | 'servfail' | 'wrong-id-first' | 'silent';

/** FakeQuery is one query the fake got. */
export interface FakeQuery {
  readonly transport: Transport;
  readonly name: string;
  readonly sourcePort: number;
}

export class FakeUpstream {
  mode: FakeUpstreamMode = 'answer';
  readonly queries: FakeQuery[] = [];
  readonly host: string;
  readonly port: number;
  readonly #udp: UdpSocket;
  readonly #tcp: TcpServer;
  readonly #connections = new Set<TcpSocket>();

  private constructor(host: string, port: number, udp: UdpSocket, tcp: TcpServer) {
    this.host = host;
    this.port = port;
    this.#udp = udp;
    this.#tcp = tcp;
    udp.on('message', (msg, rinfo) => {
      for (const reply of this.#replies(msg, 'udp', rinfo.port)) udp.send(reply, rinfo.port, rinfo.address);
    });
    tcp.on('connection', (socket) => {
      this.#connections.add(socket);
      socket.on('close', () => this.#connections.delete(socket));
      socket.on('error', () => {});
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const msg of reader.push(chunk)) {
          for (const reply of this.#replies(msg, 'tcp', socket.remotePort ?? 0)) socket.write(frameMessage(reply));
        }
      });
    });
  }

  /** start serves on host (a 127.x address), UDP and TCP on one free port. */
  static async start(host: string): Promise<FakeUpstream> {
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, host, () => resolve());
      });
      const port = udp.address().port;
      const tcp = createServer();
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, host, () => resolve());
        });
        return new FakeUpstream(host, port, udp, tcp);
      } catch (err) {
        udp.close();
        if (attempt >= 5) throw err;
      }
    }
  }

  /** address is "HOST:PORT", as ClusterDnsServer's upstreams take it. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    await Promise.all([new Promise<void>((resolve) => this.#udp.close(() => resolve())), new Promise<void>((resolve) => this.#tcp.close(() => resolve()))]);
  }

  #replies(msg: Buffer, transport: Transport, sourcePort: number): Buffer[] {
    const query = dnsPacket.decode(msg);
    const question = query.questions?.[0];
    this.queries.push({ transport, name: question?.name ?? '', sourcePort });
    const reply = (id: number, rcode: number): Buffer =>
      dnsPacket.encode({
        type: 'response',
        id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
        questions: query.questions ?? [],
        answers: rcode === 0 && question?.type === 'A' ? [{ name: question.name, type: 'A', ttl: 300, data: FAKE_UPSTREAM_ADDRESS }] : [],
      });
    const id = query.id ?? 0;
    switch (this.mode) {
      case 'answer':
        return [reply(id, 0)];
      case 'servfail':
        return [reply(id, 2)];
      case 'wrong-id-first':
        return transport === 'udp' ? [reply((id + 1) & 0xffff, 0), reply(id, 0)] : [reply(id, 0)];
      case 'silent':
        return [];
    }
  }
}
