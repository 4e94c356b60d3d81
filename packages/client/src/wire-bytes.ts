// Bytes on the wire, measured: a socket.io parser that counts what it encodes and decodes. The
// parser is where a message becomes bytes, so each socket.io packet (events, and the connect
// handshake) counts once, as the chunks handed to engine.io: one msgpack chunk per packet with
// msgpackParser, a text chunk plus binary attachments with a parser that splits them. Engine.io's
// own framing (and its pings) is not counted; the server's count (apps/server/src/wire-bytes.ts)
// is of the same packets, so the two agree byte for byte.
//
// Use: const meter = new WireMeter(); io(url, { parser: meter.parser }). A Volunteer finds the
// meter from its socket (wireMeterOf) and reports meter.sent / meter.received as Sent / Received.
import { msgpackParser } from '@splitlora/protocol';
import type { Socket } from 'socket.io-client';

/** Bytes of one chunk a socket.io parser writes or reads (a string counts its UTF-8 bytes). */
export function chunkBytes(chunk: unknown): number {
  if (typeof chunk === 'string') return new TextEncoder().encode(chunk).length;
  if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}

interface ParserEncoder {
  encode(packet: unknown): unknown[];
}
interface ParserDecoder {
  add(chunk: unknown): void;
}
interface Parser {
  protocol: number;
  Encoder: new () => ParserEncoder;
  Decoder: new () => ParserDecoder;
}

/** A socket.io parser counting into one meter; every socket made with it adds to the same counts. */
export interface MeteredParser extends Parser {
  readonly meter: WireMeter;
}

export class WireMeter {
  /** Bytes of the packets encoded to send. */
  sent = 0;
  /** Bytes of the packets received (handed to the decoder, before it checks them). */
  received = 0;
  private readonly listeners = new Set<() => void>();
  /** Pass as socket.io-client's `parser` option. */
  readonly parser: MeteredParser;

  constructor(inner: Parser = msgpackParser as unknown as Parser) {
    const meter = this;
    class Encoder extends inner.Encoder {
      override encode(packet: unknown): unknown[] {
        const chunks = super.encode(packet);
        meter.add('sent', chunks.reduce<number>((n, c) => n + chunkBytes(c), 0));
        return chunks;
      }
    }
    class Decoder extends inner.Decoder {
      override add(chunk: unknown): void {
        meter.add('received', chunkBytes(chunk));
        super.add(chunk);
      }
    }
    this.parser = { ...inner, Encoder, Decoder, meter };
  }

  /** Calls fn after every count; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private add(dir: 'sent' | 'received', bytes: number): void {
    this[dir] += bytes;
    // A listener that throws must not break the socket's encode/decode.
    for (const fn of this.listeners) {
      try {
        fn();
      } catch {
        /* the listener's own problem */
      }
    }
  }
}

/** The meter counting this socket's packets, when it was made with a WireMeter's parser. */
export function wireMeterOf(socket: Socket): WireMeter | null {
  const parser = socket.io?.opts?.parser as Partial<MeteredParser> | undefined;
  return parser?.meter instanceof WireMeter ? parser.meter : null;
}
