// socket.io on the Fastify HTTP server, with the msgpack parser. Every incoming message is
// validated (schema, then tensor checks in the run) before it can touch state; a bad message
// gets an `error` reply and a log line, and the sender keeps its connection.
import type { FastifyBaseLogger } from 'fastify';
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import {
  CLIENT_MESSAGES, PROTOCOL_VERSION, ProtocolError, isMessageName, maxMessageBytes, msgpackParser, validate,
  type ClientMessageName, type HelloMessage,
} from '@splitlora/protocol';
import type { ClientRecord, Run, Send } from './run';
import { countWireBytes } from './wire-bytes';

export interface SocketHost {
  /** The run volunteers join now, or null (they wait in the lobby). */
  currentRun(): Run | null;
  log: FastifyBaseLogger;
  heartbeat?: { pingInterval: number; pingTimeout: number };
}

/** Bytes of the typed arrays in a payload: what the message costs on the wire, give or take headers. */
export function payloadBytes(v: unknown, depth = 0): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (depth > 6 || v === null || typeof v !== 'object') return typeof v === 'string' ? v.length : 8;
  let n = 0;
  for (const x of Object.values(v)) n += payloadBytes(x, depth + 1);
  return n;
}

/** A client message as it arrives: a known client message name, its payload checked against the schema, and its size. Throws a ProtocolError. */
export function readClientMessage(event: string, payload: unknown): { name: ClientMessageName; msg: ReturnType<typeof validate>; bytes: number } {
  if (!isMessageName(event) || !(event in CLIENT_MESSAGES)) {
    throw new ProtocolError('E_UNKNOWN_TYPE', `unknown message "${String(event).slice(0, 64)}"; expected one of ${Object.keys(CLIENT_MESSAGES).join(', ')}`);
  }
  const name = event as ClientMessageName;
  return { name, msg: validate(name, payload), bytes: payloadBytes(payload) };
}

export function attachSockets(http: HttpServer, host: SocketHost, limits: { dModel: number; maxBatch: number; maxSeqLen: number; adapterParams: number }): Server {
  const maxBytes = maxMessageBytes({ batch: limits.maxBatch, seqLen: limits.maxSeqLen, dModel: limits.dModel, adapterParams: limits.adapterParams, adapterTensors: 512 });
  const io = new Server(http, {
    parser: msgpackParser,
    maxHttpBufferSize: maxBytes,
    pingInterval: host.heartbeat?.pingInterval ?? 25_000,
    pingTimeout: host.heartbeat?.pingTimeout ?? 60_000, // slow links and long WebGPU steps must not look like a dead peer
    cors: { origin: true },
  });
  countWireBytes(io);
  host.log.info({ maxHttpBufferSize: maxBytes }, 'socket.io attached');
  const lobby = new Map<Socket, HelloMessage>();

  io.on('connection', (socket) => {
    let rec: ClientRecord | null = null;
    let run: Run | null = null;
    const send: Send = (name, msg) => socket.emit(name, msg);
    const reject = (event: string, e: unknown) => {
      const err = e instanceof ProtocolError ? e : new ProtocolError('E_INTERNAL', 'the server failed to handle this message; it was not applied');
      host.log.warn({ client: rec?.id ?? socket.id, event, code: err.code, err: e instanceof ProtocolError ? undefined : e }, err.message);
      socket.emit('error', { v: PROTOCOL_VERSION, code: err.code, message: err.message });
    };
    const join = (hello: HelloMessage) => {
      const r = host.currentRun();
      if (!r || !r.active) {
        lobby.set(socket, hello);
        return;
      }
      lobby.delete(socket);
      rec = r.hello(hello, send);
      run = r;
    };
    // Helloes wait here until a run exists; the manager calls this when one starts.
    (socket.data as { join?: () => void }).join = () => {
      const h = lobby.get(socket);
      if (h && !rec) {
        try {
          join(h);
        } catch (e) {
          reject('hello', e);
        }
      }
    };

    socket.onAny(async (event: string, payload: unknown) => {
      try {
        const { name, msg, bytes } = readClientMessage(event, payload);
        if (name === 'hello') {
          if (rec) throw new ProtocolError('E_ORDER', 'hello was already received on this connection');
          join(msg as HelloMessage);
          return;
        }
        if (name === 'status') return;
        if (!rec || !run) throw new ProtocolError('E_ORDER', `${name} before welcome; send hello first and wait for the run`);
        if (name === 'activations') await run.activations(rec, msg as never, bytes);
        else if (name === 'front') await run.front(rec, msg as never, bytes);
        else if (name === 'top-gradient') await run.topGradient(rec, msg as never, bytes);
        else if (name === 'adapter') run.adapter(rec, msg as never, bytes);
      } catch (e) {
        reject(event, e);
      }
    });

    socket.on('disconnect', () => {
      lobby.delete(socket);
      if (rec && run) run.disconnect(rec);
    });
  });

  return io;
}

/** Moves lobby sockets into the new current run. */
export function admitLobby(io: Server): void {
  for (const s of io.sockets.sockets.values()) (s.data as { join?: () => void }).join?.();
}
