// A volunteer of a cluster run (`splitlora node` processes behind one coordinator) may be given
// several node URLs. It keeps one socket, to one node, at a time. socket.io's own reconnection
// brings a lost socket back to the same node; only when that node stays away longer than
// `failoverMs` (or its socket will not reconnect by itself) does the volunteer move to the next
// URL, round-robin, and say hello there with its identity. The run sees the same client.
import type { Socket } from 'socket.io-client';

export interface NodeList {
  /** Node origins (http:// or https://), tried in this order and then round-robin. */
  urls: readonly string[];
  /** Opens a socket to one node, with the caller's socket.io options (parser, transports, reconnection). */
  connect: (url: string) => Socket;
  /**
   * How long a lost or unreachable node has to (re)connect, through socket.io's own reconnection,
   * before the next URL is tried. Default DEFAULT_FAILOVER_MS.
   */
  failoverMs?: number;
}

/**
 * Long enough for socket.io's reconnection (1 s, then 2 s, … with jitter) to try the same node
 * about three times; a node that is only restarting comes back within it.
 */
export const DEFAULT_FAILOVER_MS = 5000;
export const MAX_NODE_URLS = 64;

/**
 * Parses a node list: URLs separated by commas or white space, as in `?nodes=http://h1:3001,http://h2:3002`.
 * Each must be an http(s) origin: socket.io would read a path as a namespace, which no node serves.
 * Returns the origins, without duplicates, in the order given; throws one clear error otherwise.
 */
export function parseNodeUrls(list: string | readonly string[]): string[] {
  const items = (typeof list === 'string' ? list.split(/[\s,]+/) : list.flatMap((x) => x.split(/[\s,]+/))).filter((x) => x !== '');
  if (items.length === 0) throw new Error('nodes: the list is empty; give one or more node URLs such as http://host:3001,http://host:3002');
  if (items.length > MAX_NODE_URLS) throw new Error(`nodes: ${items.length} URLs, at most ${MAX_NODE_URLS}`);
  const out: string[] = [];
  for (const item of items) {
    let u: URL;
    try {
      u = new URL(item);
    } catch {
      throw new Error(`nodes: "${item}" is not a URL; expected http://HOST:PORT`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`nodes: "${item}" is not an http(s) URL; expected http://HOST:PORT`);
    if (u.username || u.password) throw new Error(`nodes: "${item}" carries credentials; give the node's origin only`);
    if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
      throw new Error(`nodes: "${item}" has a path, query or fragment; give the node's origin only (http://HOST:PORT), socket.io would read a path as a namespace`);
    }
    if (!out.includes(u.origin)) out.push(u.origin);
  }
  return out;
}

/** The URL after `index` in a list of `count`, round-robin. */
export function nextNodeIndex(index: number, count: number): number {
  if (count < 1) throw new Error('nextNodeIndex: no nodes');
  return (index + 1) % count;
}

/** Whether socket.io will bring this socket back by itself (not after a server-side disconnect, nor with reconnection off). */
function reconnects(s: Socket): boolean {
  return s.active && s.io.reconnection();
}

export interface FailoverMove {
  from: string;
  to: string;
  reason: string;
  /** The socket to the new node (already connecting). */
  socket: Socket;
}

/**
 * The one socket of a volunteer with a node list, and the failover timer over it. The timer runs
 * while the socket is not connected: from its creation until its first connect, and from a
 * disconnect until it is back. When it fires, the socket is dropped (with all its listeners) and
 * one to the next URL takes its place; `onMove` then attaches the volunteer's handlers to it.
 */
export class NodeFailover {
  private index = 0;
  private current: Socket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** What first went wrong since the current socket was last connected (said when it is left). */
  private cause: string | null = null;
  private closed = false;
  readonly failoverMs: number;
  /** Moves so far. */
  moves = 0;

  constructor(private readonly nodes: NodeList, private readonly onMove: (move: FailoverMove) => void) {
    if (nodes.urls.length === 0) throw new Error('volunteer: the node list is empty');
    this.failoverMs = nodes.failoverMs ?? DEFAULT_FAILOVER_MS;
    if (!(this.failoverMs > 0)) throw new Error(`volunteer: failoverMs must be a positive number of milliseconds, not ${nodes.failoverMs}`);
  }

  /** The node the socket goes to now. */
  get url(): string {
    return this.nodes.urls[this.index];
  }

  get socket(): Socket {
    if (!this.current) throw new Error('volunteer: start() opens the socket');
    return this.current;
  }

  /** Opens the socket to the first node. */
  open(): Socket {
    return this.openAt(this.index);
  }

  close(): void {
    this.closed = true;
    this.disarm();
    this.current?.disconnect();
  }

  private openAt(index: number): Socket {
    this.index = index;
    const s = this.nodes.connect(this.nodes.urls[index]);
    this.current = s;
    this.cause = null;
    s.on('connect', () => {
      this.cause = null;
      this.disarm();
    });
    s.on('connect_error', (err: Error) => this.lost(s, `cannot connect: ${err.message}`));
    s.on('disconnect', (reason: string) => {
      if (reason !== 'io client disconnect') this.lost(s, `connection lost: ${reason}`);
    });
    if (!s.connected) this.arm();
    return s;
  }

  /** The socket is down; it gets failoverMs to come back, none if it will not try by itself. */
  private lost(s: Socket, reason: string): void {
    if (s !== this.current || this.closed) return;
    this.cause ??= reason;
    if (!reconnects(s) && this.nodes.urls.length > 1) {
      // Deferred: socket.io is still inside the socket's own event handling.
      queueMicrotask(() => this.move(s, `${reason}; it does not reconnect by itself`));
      return;
    }
    this.arm();
  }

  private arm(): void {
    const s = this.current;
    if (this.timer || this.closed || !s) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      // With one URL, socket.io's reconnection is all there is; only a socket that gave up is reopened.
      if (s === this.current && !s.connected && (this.nodes.urls.length > 1 || !reconnects(s))) this.move(s, `${this.cause ?? 'no connection'}; not connected within ${this.failoverMs / 1000} s`);
    }, this.failoverMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private move(s: Socket, reason: string): void {
    if (s !== this.current || this.closed) return;
    this.disarm();
    const from = this.url;
    s.removeAllListeners();
    s.disconnect();
    const next = this.openAt(nextNodeIndex(this.index, this.nodes.urls.length));
    this.moves += 1;
    this.onMove({ from, to: this.url, reason, socket: next });
  }
}

/**
 * The nodes a cluster coordinator lists at /api/nodes (live, started with `node --public-url`),
 * as origins; [] from a single server, or a server without that route.
 */
export async function fetchNodeUrls(base: string): Promise<string[]> {
  const res = await fetch(new URL('/api/nodes', base));
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`GET /api/nodes: HTTP ${res.status}`);
  const body = (await res.json()) as { nodes?: { url?: unknown }[] };
  if (!Array.isArray(body.nodes)) throw new Error('GET /api/nodes: no "nodes" list in the answer');
  const urls = body.nodes.map((n) => n?.url).filter((u): u is string => typeof u === 'string');
  return urls.length ? parseNodeUrls(urls) : [];
}
