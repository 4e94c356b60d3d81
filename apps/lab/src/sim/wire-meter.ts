// Bytes on the wire. A socket.io message here is one engine.io packet: a msgpack chunk sent as
// one binary WebSocket frame (engine.io adds no prefix to binary over WebSocket); control packets
// (ping/pong, open) are short text frames. We count the WebSocket payload plus the frame header
// (2 bytes, +2 or +8 for long payloads, +4 for the mask on client→server frames); TCP/IP and TLS
// overhead are not counted.
import { Encoder, PacketType } from '@splitlora/protocol';
import type { Socket } from 'socket.io-client';

/** One WebSocket frame carrying `payload` bytes (RFC 6455 §5.2). */
export function wsFrameBytes(payload: number, masked: boolean): number {
  const ext = payload < 126 ? 0 : payload < 65536 ? 2 : 8;
  return payload + 2 + ext + (masked ? 4 : 0);
}

const encoder = new Encoder();

/** Bytes of one socket.io event `name` with payload `msg` as the project's msgpack parser sends it, framed. */
export function messageBytes(name: string, msg: object, fromClient: boolean): number {
  const chunks = encoder.encode({ type: PacketType.EVENT, nsp: '/', data: [name, msg] });
  return chunks.reduce((s, c) => s + wsFrameBytes(c.byteLength, fromClient), 0);
}

function packetBytes(data: unknown): number {
  if (typeof data === 'string') return data.length + 1; // engine.io type digit + text
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 1; // a bare control packet ("2" ping, "3" pong)
}

export interface SocketMeter {
  up: number;
  down: number;
}

/** Counts what a socket.io-client socket sends and receives at the engine.io level, framed. */
export function meterSocket(socket: Socket): SocketMeter {
  const m: SocketMeter = { up: 0, down: 0 };
  const attach = () => {
    const engine = socket.io.engine;
    engine.on('packetCreate', (p: { data?: unknown }) => { m.up += wsFrameBytes(packetBytes(p.data), true); });
    engine.on('packet', (p: { data?: unknown }) => { m.down += wsFrameBytes(packetBytes(p.data), false); });
  };
  if (socket.io.engine) attach();
  else socket.io.once('open', attach);
  return m;
}
