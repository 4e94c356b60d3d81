// What the coordinator and the nodes share over Redis: the connection, the msgpack codec and the
// key names. Broadcasts to volunteers go through socket.io's Redis adapter (pub/sub); everything
// that flows up to the coordinator (hellos, step counts, adapter uploads, disconnects) goes on
// one Redis stream, so it arrives in the order each node sent it; server-replica tensors sit
// under keys that expire, with small control messages (serverSideEmit) saying where they are.
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { Server } from 'socket.io';
import type { WireFormat, WireTensor } from '@splitlora/protocol';

// Typed arrays stay raw bytes and come back as their own class (the volunteers' parser does the same).
const packr = new Packr({ useRecords: false, moreTypes: true });

export const pack = (v: unknown): Buffer => packr.pack(v);
export const unpack = <T>(b: Buffer | Uint8Array): T => packr.unpack(b) as T;

/** Key prefix of everything this project keeps in Redis. */
export const PREFIX = 'splitlora';
/** Node → coordinator events (XADD by nodes, XREAD by the coordinator). */
export const UP_STREAM = `${PREFIX}:up`;
/** The current run's server-part spec and replica round (msgpack), for nodes that start late. */
export const RUN_KEY = `${PREFIX}:run`;
/** How long a server-side request waits for the other processes' answers (a dead node never answers). */
export const ACK_TIMEOUT_MS = 10_000;
/** Replica and average snapshots live this long (s): they are read within the aggregation. */
export const SNAPSHOT_TTL_S = 600;

/** A node's liveness key, rewritten every HEARTBEAT_MS, gone HEARTBEAT_TTL_S after the node dies. */
export const nodeKey = (nodeId: string): string => `${PREFIX}:node:${nodeId}`;
export const HEARTBEAT_MS = 1000;
export const HEARTBEAT_TTL_S = 3;

export function replicaKey(runId: string, round: number, nodeId: string): string {
  return `${PREFIX}:replica:${runId}:${round}:${nodeId}`;
}
export function averageKey(runId: string, round: number): string {
  return `${PREFIX}:average:${runId}:${round}`;
}

/**
 * serverReplicas "single": a node's inbox (a Redis list, RPUSH/BLPOP, FIFO). Other nodes push the
 * activations their volunteers sent to the owner's inbox; the owner pushes each answer to the
 * sender's inbox, matched by request id. Lists expire when nobody pushes (a dead node's inbox).
 */
export const inboxKey = (nodeId: string): string => `${PREFIX}:inbox:${nodeId}`;
export const INBOX_TTL_MS = 120_000;
/** How long a forwarded step may take before the sending node answers E_COMPUTE (the owner drops it after that too). */
export const FORWARD_TIMEOUT_MS = 60_000;

/**
 * A forwarded SplitLoRA step (to the owner) or its answer (to the node that received it). Tensors
 * stay in the run's wire format (the volunteer's bytes up, `gradWire` down): Redis carries no more
 * than the volunteer's socket does.
 */
export type InboxMessage =
  | {
      kind: 'step'; id: string; from: string; runId: string; round: number; generation: number; deadline: number;
      clientId: string; acts: WireTensor; targets: Int32Array; mask: Float32Array; gradWire: WireFormat;
    }
  | { kind: 'reply'; id: string; loss: number; grad: WireTensor }
  | { kind: 'reply'; id: string; error: { code: string; message: string } };

/** Parses redis://host:port[/db]; a clear error for anything else. */
export function connectRedis(url: string, name: string, onError: (e: Error) => void = () => {}): Redis {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis ${url}: not a URL; expected redis://HOST:PORT`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis ${url}: expected a redis:// URL`);
  // Commands wait while Redis is away (ioredis queues them and reconnects), rather than failing at once.
  const c = new Redis(url, { connectionName: name, maxRetriesPerRequest: null, lazyConnect: true });
  // ioredis reconnects by itself; an outage is handled by its 'close'/'ready' events (coordinator.ts).
  let last = 0;
  c.on('error', (e: Error) => {
    if (Date.now() - last > 5000) onError(e);
    last = Date.now();
  });
  return c;
}

/** A socket.io adapter on Redis pub/sub, encoding packets with msgpack (binary stays binary). */
export async function attachRedisAdapter(io: Server, url: string, name: string, onError?: (e: Error) => void): Promise<{ pub: Redis; sub: Redis }> {
  const pub = connectRedis(url, `${name}-pub`, onError);
  const sub = connectRedis(url, `${name}-sub`, onError);
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: `${PREFIX}:io`, parser: { encode: pack, decode: (b: Buffer) => unpack(b) }, requestsTimeout: ACK_TIMEOUT_MS }));
  return { pub, sub };
}

/** Events a node puts on UP_STREAM. `sid` is the volunteer's socket id (unique across the cluster). */
export type UpEvent =
  | { type: 'hello'; node: string; sid: string; msg: unknown }
  | { type: 'step'; node: string; sid: string; gen: number; runId: string; round: number; tokens: number; bytesUp: number; bytesDown: number; loss: number }
  | { type: 'adapter'; node: string; sid: string; gen: number; msg: unknown; bytes: number }
  | { type: 'disconnect'; node: string; sid: string };

/** The current run as nodes need it (under RUN_KEY). */
export interface RunAnnouncement {
  runId: string;
  /** The replica's start: the spec (its `from` is the latest average) and the round it starts. */
  spec: import('../compute/server-compute').ServerPartSpec;
  round: number;
  batching: boolean;
  /**
   * One per coordinator process. A restarted coordinator resumes the run (same id) from its
   * checkpoint: a node that sees a new epoch reopens its replica from the checkpoint and says
   * hello again for each of its volunteers, with their identities, so they come back as themselves.
   */
  epoch: string;
  /**
   * Bumped when the coordinator restarts the round after losing Redis: nodes reopen their replica
   * from `spec.from` (the last average), and events they computed on the old one are ignored.
   */
  generation: number;
  /** The run's serverReplicas setting (absent: "averaged"). */
  serverReplicas?: 'averaged' | 'single';
  /** serverReplicas "single": the node that owns the server model (null: none is up yet). */
  owner?: string | null;
}
