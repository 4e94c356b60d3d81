// A socket.io parser on msgpackr. Pass `msgpackParser` as the `parser` option of both the
// socket.io Server and socket.io-client. Why not the stock parser or socket.io-msgpack-parser:
// the stock one splits binaries into attachments and JSON-encodes the rest, and notepack (used by
// socket.io-msgpack-parser) turns a browser Float32Array into a map of float64s. msgpackr (with
// moreTypes) writes every typed array (Float32Array, Uint16Array, Int8Array, Int32Array, ...) as
// an extension holding its raw bytes, so a [B, T, d] activation costs B·T·d·4 bytes plus a few header bytes.
//
// Contract (socket.io-parser): `new Encoder().encode(packet)` returns the list of chunks to write;
// `new Decoder()` is an Emitter whose `add(chunk)` emits "decoded" with the packet, and throws on
// bad input. socket.io (server: Client#ondata, client: Manager#ondata) catches that throw and
// closes the connection, so garbage from one peer never reaches the application.

import { Emitter } from '@socket.io/component-emitter';
import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from './errors';

/** socket.io protocol revision this parser speaks (same as socket.io-parser 4.x). */
export const protocol = 5;

/** Packet types of the socket.io protocol. BINARY_* never occur: msgpack carries binary inline. */
export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export interface Packet {
  type: PacketType;
  nsp: string;
  data?: unknown;
  id?: number;
}

// Event names socket.io keeps for itself; a peer must not be able to emit them.
const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

// moreTypes: typed arrays go out as msgpackr's typed-array extension (raw bytes + a type code)
// and come back as the same class; without it they would arrive as plain Uint8Array/Buffer.
// The decoder always copies them into fresh, aligned buffers, so nothing aliases the input.
// useRecords: false keeps the output plain msgpack (no msgpackr record extension), so every
// message decodes on its own.
const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false });

export class Encoder {
  /** One msgpack chunk per packet. The returned bytes are never rewritten by later calls. */
  encode(packet: Packet): Uint8Array[] {
    const { type, nsp, data, id } = packet;
    const out: Packet = { type, nsp };
    if (data !== undefined) out.data = data;
    if (id !== undefined) out.id = id;
    return [packr.pack(out)];
  }
}

interface DecoderEvents {
  decoded: (packet: Packet) => void;
}

export class Decoder extends Emitter<{}, {}, DecoderEvents> {
  /** Decode one chunk (Buffer / Uint8Array in Node, ArrayBuffer in browsers). Throws on garbage. */
  add(chunk: unknown): void {
    const bytes = toBytes(chunk);
    let value: unknown;
    try {
      value = unpackr.unpack(bytes);
    } catch (e) {
      throw new ProtocolError('E_DECODE', `malformed msgpack packet (${(e as Error).message.slice(0, 80)})`);
    }
    this.emitReserved('decoded', checkPacket(value));
  }

  /** Nothing is buffered between chunks, so there is nothing to free. */
  destroy(): void {}
}

/** The object to pass as socket.io's `parser` option, on the server and on every client. */
export const msgpackParser = { protocol, PacketType, Encoder, Decoder };

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const kind = typeof chunk === 'string' ? 'text' : typeof chunk;
  throw new ProtocolError('E_DECODE', `expected a binary msgpack packet, got ${kind}; both ends must use msgpackParser`);
}

/** Checks the decoded value is a well-formed socket.io packet (mirrors socket.io-parser's isPacketValid). */
export function checkPacket(value: unknown): Packet {
  if (!isPlainObject(value)) throw bad('the packet is not a map');
  const { type, nsp, data, id } = value as Record<string, unknown>;
  if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 4) {
    throw bad(`unknown packet type ${String(type)}`);
  }
  if (typeof nsp !== 'string' || !nsp.startsWith('/')) throw bad('the namespace must be a string starting with "/"');
  if (id !== undefined && (typeof id !== 'number' || !Number.isInteger(id) || id < 0)) {
    throw bad('the ack id must be a non-negative integer');
  }
  if (!isDataValid(type as PacketType, data)) throw bad(`invalid payload for packet type ${type}`);
  const packet: Packet = { type: type as PacketType, nsp };
  if (data !== undefined) packet.data = data;
  if (id !== undefined) packet.id = id as number;
  return packet;
}

function isDataValid(type: PacketType, data: unknown): boolean {
  switch (type) {
    case PacketType.CONNECT:
      return data === undefined || isPlainObject(data);
    case PacketType.DISCONNECT:
      return data === undefined;
    case PacketType.EVENT:
      return (
        Array.isArray(data) &&
        (typeof data[0] === 'number' || (typeof data[0] === 'string' && !RESERVED_EVENTS.has(data[0])))
      );
    case PacketType.ACK:
      return Array.isArray(data);
    case PacketType.CONNECT_ERROR:
      return typeof data === 'string' || isPlainObject(data);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return Object.prototype.toString.call(v) === '[object Object]';
}

function bad(what: string): ProtocolError {
  return new ProtocolError('E_DECODE', `malformed socket.io packet: ${what}`);
}
