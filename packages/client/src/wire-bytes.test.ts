// Sent / Received are measured: the client's WireMeter (the parser the page and the Node client
// use) against the server's own count of the same packets (apps/server/src/wire-bytes.ts).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { msgpackParser } from '@splitlora/protocol';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { countWireBytes, wireBytesOf } from '../../../apps/server/src/wire-bytes';
import { createRun, startServer, startVolunteer, waitFor } from '../../../test/support/server-harness';
import type { VolunteerEvent, VolunteerStats } from './volunteer';
import { WireMeter, chunkBytes, wireMeterOf } from './wire-bytes';

/** The bytes msgpackParser writes for this socket.io packet. */
const encoded = (packet: object) => chunkBytes(new msgpackParser.Encoder().encode(packet as never)[0]);

describe('WireMeter', () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it('counts each packet as encoded, the same bytes the server counts on that connection', async () => {
    const http = createServer();
    const srv = new Server(http, { parser: msgpackParser, transports: ['websocket'] });
    countWireBytes(srv);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(() => r(undefined))));
    let serverSocket: ServerSocket | undefined;
    srv.on('connection', (s) => {
      serverSocket = s;
      s.on('ping-me', (m: { acts: Float32Array }) => s.emit('pong', { n: m.acts.length, text: 'é'.repeat(100) }));
    });

    const meter = new WireMeter();
    const socket = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { parser: meter.parser, transports: ['websocket'], reconnection: false });
    cleanup.push(() => socket.close());
    expect(wireMeterOf(socket)).toBe(meter);
    expect(wireMeterOf(io('http://127.0.0.1:9', { parser: msgpackParser, autoConnect: false }))).toBeNull();
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const connected = { sent: meter.sent, received: meter.received };
    expect(connected.sent).toBe(encoded({ type: 0, nsp: '/' })); // the connect handshake
    expect(connected.received).toBeGreaterThan(0);

    const acts = new Float32Array(1000).fill(0.5);
    const reply = new Promise<void>((r) => socket.once('pong', () => r()));
    socket.emit('ping-me', { acts });
    await reply;
    // 4,000 bytes of floats plus the msgpack headers; a 100-character string is its 200 UTF-8 bytes.
    expect(meter.sent - connected.sent).toBe(encoded({ type: 2, nsp: '/', data: ['ping-me', { acts }] }));
    expect(meter.sent - connected.sent).toBeGreaterThan(4000);
    expect(meter.received - connected.received).toBe(encoded({ type: 2, nsp: '/', data: ['pong', { n: 1000, text: 'é'.repeat(100) }] }));
    await waitFor(() => wireBytesOf(serverSocket!).sent === meter.received, 5000, 'the server count');
    expect(wireBytesOf(serverSocket!)).toEqual({ sent: meter.received, received: meter.sent });
  });
});

describe("a volunteer's Sent / Received", () => {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  afterAll(async () => {
    await server?.app.close();
  });

  it("equal the server's count of the bytes it received from and sent to that socket", async () => {
    server = await startServer();
    const stats: VolunteerStats[] = [];
    const v = startVolunteer(server.base, encodeExamples(syntheticE2E({ n: 16, seed: 2 })), 0, (e: VolunteerEvent) => {
      if (e.type === 'stats') stats.push(e.stats);
    });
    try {
      await createRun(server.app, { interval: 2, rounds: 2, minClients: 1, batch: 2, seqLen: 16, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
      await waitFor(() => v.stats.status === 'finished', 120_000, 'the run to finish');
      const sockets = [...server.app.volunteers!.sockets.sockets.values()];
      expect(sockets).toHaveLength(1);
      const counted = () => wireBytesOf(sockets[0]);
      // The last packets may still be on their way one way or the other.
      await waitFor(() => counted().received === v.stats.bytesUp && counted().sent === v.stats.bytesDown, 5000, 'the two counts to agree').catch(() => {});
      expect({ up: v.stats.bytesUp, down: v.stats.bytesDown }).toEqual({ up: counted().received, down: counted().sent });
      // The last stats event (what the page shows) carries the same figures.
      await new Promise((r) => setTimeout(r, 0));
      expect(stats.at(-1)).toMatchObject({ bytesUp: counted().received, bytesDown: counted().sent });
      // Four steps of [2, 16, 32] f32 activations went up, their gradients came down.
      expect(v.stats.step).toBe(4);
      expect(v.stats.bytesUp).toBeGreaterThan(4 * 2 * 16 * 32 * 4);
      expect(v.stats.bytesDown).toBeGreaterThan(4 * 2 * 16 * 32 * 4);
    } finally {
      v.stop();
    }
  }, 150_000);
});
