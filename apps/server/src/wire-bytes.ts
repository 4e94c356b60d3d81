// Bytes on the wire per connection, measured where engine.io carries socket.io's packets: each
// "message" packet's data is one packet as the parser encoded it (one msgpack chunk with
// msgpackParser; a text chunk and each binary attachment with a parser that splits them).
// Engine.io's own packets (open, ping, pong, upgrade) are not counted. The volunteer's page counts
// the same packets at its parser (packages/client/src/wire-bytes.ts), so the two agree.
// Counting starts when the connection opens, so the socket.io connect handshake is included.
import type { Server, Socket } from 'socket.io';

export interface WireBytes {
  /** Bytes of the packets this server sent on the connection. */
  sent: number;
  /** Bytes of the packets it received there. */
  received: number;
}

interface EnginePacket {
  type: string;
  data?: unknown;
}

const counts = new WeakMap<object, WireBytes>();

function dataBytes(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/** Counts every engine.io connection of `io` from now on. */
export function countWireBytes(io: Server): void {
  io.engine.on('connection', (conn: { on(event: 'packet' | 'packetCreate', fn: (p: EnginePacket) => void): void }) => {
    const c: WireBytes = { sent: 0, received: 0 };
    counts.set(conn, c);
    conn.on('packet', (p) => {
      if (p.type === 'message') c.received += dataBytes(p.data);
    });
    conn.on('packetCreate', (p) => {
      if (p.type === 'message') c.sent += dataBytes(p.data);
    });
  });
}

/** The bytes counted on this socket's connection (zeros when it was not counted). */
export function wireBytesOf(socket: Socket): WireBytes {
  return { ...(counts.get(socket.conn) ?? { sent: 0, received: 0 }) };
}
