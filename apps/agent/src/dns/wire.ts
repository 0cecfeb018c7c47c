// wire.ts: how DNS messages travel: TCP framing, the header bits read before decoding, and the
// size a UDP response may have. Pure: no I/O.
//
// - Over TCP every message is preceded by its length, 2 bytes big-endian (RFC 1035 4.2.2).
//   FrameReader cuts a byte stream into messages; it holds at most one unfinished message
//   (up to 2 + 65,535 bytes) and copies each byte about once, however the stream is chunked.
// - A UDP response must fit what the client takes: 512 bytes, or the payload size of its EDNS0
//   OPT record (RFC 6891), but never more than UDP_PAYLOAD_MAX_BYTES (what this server offers,
//   the size DNS Flag Day 2020 settled on, which no path fragments). encodeResponse leaves out
//   the additional records first (they are hints), and when the answer still does not fit it
//   sends the header and question only with the TC bit set, so that the client asks again over
//   TCP (RFC 2181 9).
import dnsPacket from 'dns-packet';
import type { Answer, OptAnswer, Packet } from 'dns-packet';

/** DNS_HEADER_BYTES is the size of the fixed header of every DNS message. */
export const DNS_HEADER_BYTES = 12;
/** UDP_PAYLOAD_CLASSIC_BYTES is what a client without EDNS0 takes over UDP (RFC 1035). */
export const UDP_PAYLOAD_CLASSIC_BYTES = 512;
/** UDP_PAYLOAD_MAX_BYTES caps a UDP response, whatever size the client offers; it is also the
 *  size this server offers in its own OPT record. */
export const UDP_PAYLOAD_MAX_BYTES = 1232;
/** TCP_MESSAGE_MAX_BYTES is the largest message the 2-byte length prefix can frame. */
export const TCP_MESSAGE_MAX_BYTES = 65_535;

/** messageId is the id of a message (its first 2 bytes), or undefined when it is shorter. */
export function messageId(message: Uint8Array): number | undefined {
  return message.length >= 2 ? (message[0]! << 8) | message[1]! : undefined;
}

/** headerFlags are the 16 flag bits of a message (QR, opcode, AA, TC, RD, RA, Z, AD, CD,
 *  rcode), or 0 when the message is too short to have them. */
export function headerFlags(message: Uint8Array): number {
  return message.length >= 4 ? (message[2]! << 8) | message[3]! : 0;
}

/** isResponse tells whether the message has the QR bit set. */
export function isResponse(message: Uint8Array): boolean {
  return (headerFlags(message) & 0x8000) !== 0;
}

/** isReplyTo tells whether message is a whole response header with this id. */
export function isReplyTo(message: Uint8Array, id: number): boolean {
  return message.length >= DNS_HEADER_BYTES && isResponse(message) && messageId(message) === id;
}

/** rcodeOf is the 4-bit response code in a message's header. */
export function rcodeOf(message: Uint8Array): number {
  return headerFlags(message) & 0x0f;
}

/** isOpt tells whether a record is an EDNS0 OPT pseudo-record. */
export function isOpt(record: Answer): record is OptAnswer {
  return record.type === 'OPT';
}

/** udpPayloadLimit is how large a UDP response to a client may be: 512 bytes without EDNS0,
 *  else the size its OPT record offers, from 512 up to UDP_PAYLOAD_MAX_BYTES. */
export function udpPayloadLimit(opt: OptAnswer | undefined): number {
  if (opt === undefined) return UDP_PAYLOAD_CLASSIC_BYTES;
  return Math.min(Math.max(UDP_PAYLOAD_CLASSIC_BYTES, opt.udpPayloadSize), UDP_PAYLOAD_MAX_BYTES);
}

/** encodeResponse encodes response in at most limitBytes (see the module comment): whole, or
 *  without its additional records, or truncated (TC set, no records but the OPT). */
export function encodeResponse(response: Packet, limitBytes: number): Buffer {
  const whole = dnsPacket.encode(response);
  if (whole.length <= limitBytes) return whole;
  const additionals = response.additionals ?? [];
  const opt = additionals.filter(isOpt);
  if (opt.length < additionals.length) {
    const hintless = dnsPacket.encode({ ...response, additionals: opt });
    if (hintless.length <= limitBytes) return hintless;
  }
  return dnsPacket.encode({
    ...response,
    flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
    additionals: opt,
  });
}

/** frameMessage prefixes a message with its 2-byte length, for TCP. */
export function frameMessage(message: Uint8Array): Buffer {
  if (message.length > TCP_MESSAGE_MAX_BYTES) {
    throw new Error(`DNS message of ${message.length} bytes is longer than the ${TCP_MESSAGE_MAX_BYTES} a TCP frame holds`);
  }
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  framed.set(message, 2);
  return framed;
}

/** FrameReader cuts the byte stream of one TCP connection into DNS messages. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** bufferedBytes is how much of an unfinished message is held. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** push adds bytes read from the connection and returns the messages they complete, in
   *  order, without their length prefix (a 0-length frame gives an empty message). */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const messages: Buffer[] = [];
    while (this.#buffered >= 2) {
      const length = this.#frameLength();
      if (this.#buffered < 2 + length) break;
      // Join only once a whole message is here, so a stream sent a byte at a time costs no
      // more than one sent at once.
      const joined = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      messages.push(joined.subarray(2, 2 + length));
      const rest = joined.subarray(2 + length);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
    }
    return messages;
  }

  #frameLength(): number {
    const first = this.#chunks[0]!;
    if (first.length >= 2) return first.readUInt16BE(0);
    const joined = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [joined];
    return joined.readUInt16BE(0);
  }
}
