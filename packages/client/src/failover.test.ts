// The node list: parsing (what the page's ?nodes= and the Node client accept) and the failover
// over real socket.io servers on loopback: a dead node is left for the next, round-robin, and a
// node that comes back within failoverMs is kept (socket.io's own reconnection).
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFailover, nextNodeIndex, parseNodeUrls, type FailoverMove } from './failover';

describe('parseNodeUrls', () => {
  it('takes origins separated by commas or spaces, in order, without duplicates', () => {
    expect(parseNodeUrls('http://h1:3001,http://h2:3002')).toEqual(['http://h1:3001', 'http://h2:3002']);
    expect(parseNodeUrls(' http://h2:3002/ ,, https://h1  http://h2:3002 ')).toEqual(['http://h2:3002', 'https://h1']);
    expect(parseNodeUrls(['http://a:1', 'http://b:2,http://a:1'])).toEqual(['http://a:1', 'http://b:2']);
    expect(parseNodeUrls('HTTP://Node-A:80')).toEqual(['http://node-a']);
  });

  it('refuses what is not a node origin, naming the bad entry', () => {
    expect(() => parseNodeUrls('')).toThrow(/empty/);
    expect(() => parseNodeUrls(' , ')).toThrow(/empty/);
    expect(() => parseNodeUrls('http://ok:1,h2:3002')).toThrow(/"h2:3002" is not an http\(s\) URL/);
    expect(() => parseNodeUrls('localhost')).toThrow(/"localhost" is not a URL/);
    expect(() => parseNodeUrls('ftp://h:21')).toThrow(/not an http\(s\) URL/);
    expect(() => parseNodeUrls('http://h:1/socket')).toThrow(/namespace/);
    expect(() => parseNodeUrls('http://h:1?x=1')).toThrow(/path, query or fragment/);
    expect(() => parseNodeUrls('http://u:p@h:1')).toThrow(/credentials/);
    expect(() => parseNodeUrls(Array.from({ length: 65 }, (_, i) => `http://h:${i + 1}`))).toThrow(/at most 64/);
  });
});

describe('nextNodeIndex', () => {
  it('goes round the list', () => {
    expect([0, 1, 2].map((i) => nextNodeIndex(i, 3))).toEqual([1, 2, 0]);
    expect(nextNodeIndex(0, 1)).toBe(0);
    expect(() => nextNodeIndex(0, 0)).toThrow(/no nodes/);
  });
});

/** A socket.io server on a loopback port; `stop` closes it (its sockets see the connection drop). */
async function startNode(port = 0): Promise<{ url: string; port: number; io: Server; http: HttpServer; stop: () => Promise<void> }> {
  const http = createServer();
  const srv = new Server(http, { transports: ['websocket'] });
  await new Promise<void>((r) => http.listen(port, '127.0.0.1', () => r()));
  const p = (http.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${p}`, port: p, io: srv, http, stop: () => new Promise((r) => srv.close(() => r())) };
}

/** A loopback URL with nothing listening. */
async function deadUrl(): Promise<string> {
  const n = await startNode();
  await n.stop();
  return n.url;
}

function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (cond()) { clearInterval(t); resolve(); } else if (Date.now() - t0 > ms) { clearInterval(t); reject(new Error(`timed out waiting for ${what}`)); }
    }, 10);
  });
}

describe('NodeFailover over real socket.io servers', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const connect = (url: string): Socket => io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200 });

  it('leaves a node that is down for the next one, round-robin, and never a live one', async () => {
    const dead = await deadUrl();
    const [b, c] = [await startNode(), await startNode()];
    cleanup.push(() => b.stop(), () => c.stop());
    const moves: FailoverMove[] = [];
    const f = new NodeFailover({ urls: [dead, b.url, c.url], connect, failoverMs: 300 }, (m) => moves.push(m));
    cleanup.push(() => f.close());
    f.open();
    await until(() => f.socket.connected, 'a connection to the second node');
    expect(f.url).toBe(b.url);
    expect(moves.map((m) => [m.from, m.to])).toEqual([[dead, b.url]]);
    expect(moves[0].reason).toMatch(/cannot connect/);
    expect(moves[0].socket).toBe(f.socket);

    await b.stop();
    await until(() => f.socket.connected && f.url === c.url, 'the move to the third node');
    expect(moves.map((m) => m.to)).toEqual([b.url, c.url]);
    expect(moves[1].reason).toMatch(/connection lost/);

    // Past the end of the list it starts again from the first.
    await c.stop();
    await until(() => moves.length >= 3, 'a move past the end of the list');
    expect(moves[2]).toMatchObject({ from: c.url, to: dead });
    expect(f.moves).toBe(moves.length);
  });

  it('keeps a node that comes back within failoverMs, through socket.io\'s reconnection', async () => {
    let a = await startNode();
    const b = await startNode();
    cleanup.push(() => b.stop());
    const moves: FailoverMove[] = [];
    const f = new NodeFailover({ urls: [a.url, b.url], connect, failoverMs: 30_000 }, (m) => moves.push(m));
    cleanup.push(() => f.close());
    const s = f.open();
    await until(() => s.connected, 'the first connection');
    let reconnected = 0;
    s.io.on('reconnect', () => reconnected++);
    await a.stop();
    await until(() => !s.connected, 'the drop');
    a = await startNode(a.port);
    cleanup.push(() => a.stop());
    await until(() => reconnected > 0 && s.connected, 'the reconnection to the same node');
    expect(moves).toEqual([]);
    expect(f.socket).toBe(s);
    expect(f.url).toBe(a.url);
  });

  it('moves at once when the socket will not reconnect by itself', async () => {
    const [a, b] = [await startNode(), await startNode()];
    cleanup.push(() => a.stop(), () => b.stop());
    const moves: FailoverMove[] = [];
    const f = new NodeFailover({ urls: [a.url, b.url], connect: (u) => io(u, { transports: ['websocket'], forceNew: true, reconnection: false }), failoverMs: 60_000 }, (m) => moves.push(m));
    cleanup.push(() => f.close());
    f.open();
    await until(() => f.socket.connected, 'the first connection');
    // The server ends the connection on purpose: socket.io does not reconnect after that.
    for (const sock of a.io.of('/').sockets.values()) sock.disconnect(true);
    await until(() => f.url === b.url && f.socket.connected, 'the move to the other node');
    expect(moves).toHaveLength(1);
    expect(moves[0].reason).toMatch(/io server disconnect; it does not reconnect by itself/);
  });

  it('refuses an empty list and a bad failoverMs', () => {
    expect(() => new NodeFailover({ urls: [], connect }, () => {})).toThrow(/empty/);
    expect(() => new NodeFailover({ urls: ['http://a:1'], connect, failoverMs: 0 }, () => {})).toThrow(/failoverMs/);
  });
});
