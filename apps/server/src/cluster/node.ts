// A cluster node (`splitlora node --redis URL --port P`): it accepts volunteer sockets, validates
// every message as the single server does (coded errors go back from here), and runs the server
// submodel for its own volunteers in its own compute worker. It keeps no run state of its own
// beyond what the coordinator told each socket: it watches what goes out to the socket (welcome,
// run-state, aggregate, excluded: onAnyOutgoing also sees packets that arrive through the Redis
// adapter) and checks each step against that. Steps are counted by the coordinator (the Redis
// stream); its replica of the server LoRA is averaged with the other nodes' at every aggregation.
import { EventEmitter } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Server, type Socket } from 'socket.io';
import type { Redis } from 'ioredis';
import {
  PROTOCOL_VERSION, ProtocolError, checkActivations, decodeTensor, encodeTensor, maxMessageBytes, msgpackParser,
  type ActivationsMessage, type HelloMessage, type RunConfig,
} from '@splitlora/protocol';
import { ComputeWorker, WorkerServerCompute, sharedRecord } from '../compute/compute-worker';
import type { ServerSnapshot } from '../compute/server-compute';
import { ComputeUnavailable, ServerEngine } from '../engine';
import type { LoadedModel } from '../run-manager';
import { readClientMessage } from '../socket';
import { HEARTBEAT_MS, HEARTBEAT_TTL_S, RUN_KEY, SNAPSHOT_TTL_S, nodeKey, UP_STREAM, attachRedisAdapter, connectRedis, pack, replicaKey, unpack, type RunAnnouncement, type UpEvent } from './redis';

export interface NodeOptions {
  redis: string;
  port: number;
  host?: string;
  model: LoadedModel;
  /** The compute worker's tfjs backend (selectNodeBackend's names; default "auto"). */
  backend?: string;
  /** Node name in logs and the coordinator's replica list (default: random). */
  id?: string;
  heartbeat?: { pingInterval: number; pingTimeout: number };
  maxBatch?: number;
  maxSeqLen?: number;
  log?: (msg: string) => void;
}

/** What the coordinator has told one socket so far. */
interface Mirror {
  clientId: string | null;
  resumeToken: string | null;
  /** Said hello again for it to a new coordinator; no step until its welcome. */
  rejoining: boolean;
  runId: string | null;
  config: RunConfig | null;
  round: number;
  state: string;
  excludedRound: number | null;
  stepsInRound: number;
  inFlight: boolean;
}

/** This node's replica of a run's server part. */
interface Part {
  runId: string;
  epoch: string;
  generation: number;
  key: string;
  engine: ServerEngine;
  /** The round the replica is at: it has the average of every round before this one. */
  round: number;
  waiters: (() => void)[];
  /** Engine counters at the last collection. */
  mark: { tokens: number; steps: number };
}

/** How long a step waits for its round's server average before it is refused. */
const AVERAGE_WAIT_MS = 60_000;

export class ClusterNode extends EventEmitter {
  readonly id: string;
  readonly http: HttpServer;
  readonly io: Server;
  readonly compute: ComputeWorker;
  private redis: { pub: Redis; sub: Redis; cmd: Redis } | null = null;
  private part: Part | null = null;
  /** Every volunteer socket here, with its last hello (to say it again to a new coordinator). */
  private readonly volunteers = new Map<string, { mirror: Mirror; hello: HelloMessage | null }>();
  private opening: Promise<Part | null> | null = null;
  private closed = false;
  private heartbeat: NodeJS.Timeout | null = null;
  port = 0;

  private constructor(readonly opts: NodeOptions) {
    super();
    this.id = opts.id ?? `node-${randomBytes(3).toString('hex')}`;
    const { config } = opts.model;
    this.compute = new ComputeWorker({ role: 'train', backend: opts.backend ?? 'auto', config, weights: sharedRecord(opts.model.weights) });
    this.http = createServer((req, res) => {
      if (req.url === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, node: this.id, run: this.part?.runId ?? null, round: this.part?.round ?? null, compute: this.compute.health }));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('a splitlora cluster node: volunteer sockets only; the model files, the API and the dashboard are on the coordinator\n');
    });
    const maxSeqLen = Math.min(opts.maxSeqLen ?? 256, config.nPositions);
    const adapterParams = Math.min(4 * config.nLayer * 4 * config.nEmbd * 256, 64 * 1024 * 1024);
    this.io = new Server(this.http, {
      parser: msgpackParser,
      maxHttpBufferSize: maxMessageBytes({ batch: opts.maxBatch ?? 16, seqLen: maxSeqLen, dModel: config.nEmbd, adapterParams, adapterTensors: 512 }),
      pingInterval: opts.heartbeat?.pingInterval ?? 25_000,
      pingTimeout: opts.heartbeat?.pingTimeout ?? 60_000,
      cors: { origin: true },
      transports: ['websocket'], // no sticky sessions behind a load balancer
    });
  }

  /** Starts the compute worker, joins Redis, loads the current run (if any) and listens. */
  static async start(opts: NodeOptions): Promise<ClusterNode> {
    const node = new ClusterNode(opts);
    await node.compute.start();
    const onError = (e: Error) => node.say(`node ${node.id}: Redis ${opts.redis}: ${e.message}`);
    const { pub, sub } = await attachRedisAdapter(node.io, opts.redis, node.id, onError);
    const cmd = connectRedis(opts.redis, `${node.id}-cmd`, onError);
    await cmd.connect();
    node.redis = { pub, sub, cmd };
    node.listenCluster();
    // Liveness: a node killed outright cannot say its volunteers left; the coordinator sees this key expire.
    const beat = () => void cmd.set(nodeKey(node.id), '1', 'EX', HEARTBEAT_TTL_S).catch(() => {});
    beat();
    node.heartbeat = setInterval(beat, HEARTBEAT_MS);
    node.heartbeat.unref();
    node.io.on('connection', (s) => node.onConnection(s));
    await node.loadRun();
    await new Promise<void>((resolve, reject) => {
      node.http.once('error', reject);
      node.http.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = node.http.address();
    node.port = typeof addr === 'object' && addr ? addr.port : opts.port;
    node.io.serverSideEmit('cluster:node-up', node.id);
    node.say(`node ${node.id} listening on ${opts.host ?? '127.0.0.1'}:${node.port} (backend ${node.compute.health.backend}), redis ${opts.redis}`);
    return node;
  }

  private say(msg: string): void {
    this.opts.log?.(msg);
  }

  /** The replica now (tests). */
  get replica(): { runId: string; round: number; engine: ServerEngine } | null {
    return this.part;
  }

  private up(ev: UpEvent): Promise<unknown> {
    if (!this.redis) return Promise.resolve();
    return this.redis.cmd.xadd(UP_STREAM, 'MAXLEN', '~', '100000', '*', 'm', pack(ev));
  }

  // ---- the coordinator's control messages -------------------------------------------------

  private listenCluster(): void {
    const io = this.io as unknown as { on(ev: string, fn: (...args: never[]) => void): void };
    io.on('cluster:node-up', () => {});
    io.on('cluster:run', () => {
      this.loadRun().catch((e) => this.say(`loading the announced run failed: ${(e as Error).message}`));
    });
    // The coordinator restarts the round after a Redis outage: reopen the replica, then say so.
    io.on('cluster:reset', (_req: unknown, ack: (v: unknown) => void) => {
      this.loadRun().then((p) => ack({ node: this.id, generation: p?.generation ?? null }), (e) => {
        this.say(`reopening the replica failed: ${(e as Error).message}`);
        ack(null);
      });
    });
    io.on('cluster:collect', (req: { runId: string; round: number }, ack: (v: unknown) => void) => {
      this.collect(req).then(ack, (e) => {
        this.say(`collecting the replica failed: ${(e as Error).message}`);
        ack(null);
      });
    });
    io.on('cluster:apply', (req: { runId: string; round: number; key: string }, ack: (v: unknown) => void) => {
      this.apply(req).then(() => ack(true), (e) => {
        this.say(`applying the server average failed: ${(e as Error).message}`);
        ack(false);
      });
    });
  }

  /** Opens the replica of the announced run (the coordinator's server part at the announcement). */
  private loadRun(): Promise<Part | null> {
    const go = async (): Promise<Part | null> => {
      const buf = await this.redis!.cmd.getBuffer(RUN_KEY);
      if (!buf) return this.part;
      const ann = unpack<RunAnnouncement>(buf);
      if (this.part?.runId === ann.runId && this.part.epoch === ann.epoch && this.part.generation === ann.generation) return this.part;
      const old = this.part;
      this.part = null;
      if (old) await old.engine.compute.dispose().catch(() => {});
      if (old && old.epoch !== ann.epoch) await this.rejoinAll(ann.epoch);
      const key = `part-${randomBytes(4).toString('hex')}`;
      const engine = new ServerEngine(await WorkerServerCompute.open(this.compute, key, ann.spec), { batching: ann.batching, maxGroup: 16 });
      if (ann.spec.from) {
        engine.restorePoint = ann.spec.from;
        Object.assign(engine.stats, ann.spec.from.stats);
      }
      this.part = { runId: ann.runId, epoch: ann.epoch, generation: ann.generation, key, engine, round: ann.round, waiters: [], mark: { tokens: engine.stats.tokens, steps: engine.stats.serverSteps } };
      this.say(`node ${this.id}: replica of run ${ann.runId} open at round ${ann.round}`);
      return this.part;
    };
    const p = (this.opening ?? Promise.resolve(null)).catch(() => null).then(go);
    this.opening = p;
    return p;
  }

  private async collect(req: { runId: string; round: number }): Promise<unknown> {
    await this.opening?.catch(() => {});
    const part = this.part;
    // A replica that missed an average (it failed) still takes part; one already past this round does not.
    if (!part || part.runId !== req.runId || part.round > req.round) return null;
    const snapshot = await part.engine.snapshot();
    const tokens = part.engine.stats.tokens - part.mark.tokens;
    const steps = part.engine.stats.serverSteps - part.mark.steps;
    part.mark = { tokens: part.engine.stats.tokens, steps: part.engine.stats.serverSteps };
    const key = replicaKey(req.runId, req.round, this.id);
    await this.redis!.cmd.set(key, pack(snapshot), 'EX', SNAPSHOT_TTL_S);
    this.emit('collected', { round: req.round, tokens, steps, snapshot });
    return { node: this.id, key, tokens, steps };
  }

  private async apply(req: { runId: string; round: number; key: string }): Promise<void> {
    const part = this.part;
    if (!part || part.runId !== req.runId || part.round > req.round) return;
    const buf = await this.redis!.cmd.getBuffer(req.key);
    if (!buf) throw new Error(`the average of round ${req.round} is not in Redis (${req.key})`);
    const average = unpack<ServerSnapshot>(buf);
    await part.engine.between(() => part.engine.compute.restore(average));
    part.engine.restorePoint = average;
    part.round = req.round + 1;
    for (const w of part.waiters.splice(0)) w();
    this.emit('applied', { round: req.round });
  }

  /**
   * A new coordinator knows none of these sockets: say each one's hello again, with the identity
   * the old one gave it, so the resumed run takes it back as itself (and sends a fresh welcome).
   */
  private async rejoinAll(epoch: string): Promise<void> {
    this.say(`node ${this.id}: a new coordinator (epoch ${epoch}); re-registering ${this.volunteers.size} volunteers`);
    for (const [sid, v] of this.volunteers) {
      if (!v.hello) continue;
      const m = v.mirror;
      const identity = m.clientId && m.resumeToken ? { clientId: m.clientId, resumeToken: m.resumeToken } : {};
      m.rejoining = m.clientId !== null;
      await this.up({ type: 'hello', node: this.id, sid, msg: { ...v.hello, ...identity } });
    }
  }

  /** The replica, once it holds the average of every round before `round`. */
  private async partAt(runId: string, round: number): Promise<Part> {
    let part = this.part;
    if (!part || part.runId !== runId) part = await this.loadRun();
    if (!part || part.runId !== runId) throw new ProtocolError('E_ORDER', `this node does not serve run ${runId} (yet); wait for run-state "training"`);
    const t0 = Date.now();
    while (part.round < round) {
      if (Date.now() - t0 > AVERAGE_WAIT_MS || this.part !== part) throw new ProtocolError('E_ORDER', `the server average of round ${round - 1} has not reached this node; send the step again after the next run-state`);
      await new Promise<void>((resolve) => {
        part!.waiters.push(resolve);
        setTimeout(resolve, 1000).unref();
      });
    }
    if (part.round > round) throw new ProtocolError('E_ORDER', `activations for round ${round}, but this node's server part is at round ${part.round}; wait for the aggregate`);
    return part;
  }

  // ---- volunteer sockets ---------------------------------------------------------------------

  private onConnection(socket: Socket): void {
    const m: Mirror = { clientId: null, resumeToken: null, rejoining: false, runId: null, config: null, round: 0, state: 'waiting', excludedRound: null, stepsInRound: 0, inFlight: false };
    let helloSent = false;
    const entry: { mirror: Mirror; hello: HelloMessage | null } = { mirror: m, hello: null };
    this.volunteers.set(socket.id, entry);
    socket.onAnyOutgoing((event: string, p: Record<string, unknown>) => observe(m, event, p));
    const reject = (event: string, e: unknown) => {
      const err = e instanceof ProtocolError ? e : new ProtocolError('E_INTERNAL', 'the server failed to handle this message; it was not applied');
      if (!(e instanceof ProtocolError)) this.say(`node ${this.id}: ${event} from ${m.clientId ?? socket.id} failed: ${(e as Error)?.message ?? e}`);
      socket.emit('error', { v: PROTOCOL_VERSION, code: err.code, message: err.message });
    };
    socket.onAny(async (event: string, payload: unknown) => {
      try {
        const { name, msg, bytes } = readClientMessage(event, payload);
        if (name === 'hello') {
          if (m.clientId) throw new ProtocolError('E_ORDER', 'hello was already received on this connection');
          helloSent = true;
          entry.hello = msg as HelloMessage;
          await this.up({ type: 'hello', node: this.id, sid: socket.id, msg });
          return;
        }
        if (name === 'status') return;
        // E_COMPUTE: the volunteer redoes the step once the resumed run has welcomed it back.
        if (m.rejoining) throw new ProtocolError('E_COMPUTE', 'the coordinator restarted; the round restarts from its last checkpoint once it has welcomed this client back');
        if (!m.clientId || !m.config) throw new ProtocolError('E_ORDER', `${name} before welcome; send hello first and wait for the run`);
        if (name === 'activations') await this.step(socket, m, msg as ActivationsMessage, bytes);
        else if (name === 'adapter') await this.up({ type: 'adapter', node: this.id, sid: socket.id, gen: this.part?.generation ?? -1, msg, bytes });
        else throw new ProtocolError('E_ORDER', `${name}: cluster nodes do not serve the U-shaped split (labels "client") yet; run it on a single server`);
      } catch (e) {
        reject(event, e);
      }
    });
    socket.on('disconnect', () => {
      this.volunteers.delete(socket.id);
      if (helloSent && !this.closed) this.up({ type: 'disconnect', node: this.id, sid: socket.id }).catch(() => {});
    });
  }

  /** One SplitLoRA step on this node's replica, checked against what the coordinator told the socket. */
  private async step(socket: Socket, m: Mirror, msg: ActivationsMessage, bytes: number): Promise<void> {
    const cfg = m.config!;
    if (cfg.labels === 'client') throw new ProtocolError('E_ORDER', 'this run keeps the labels in the page (labels "client"): send front, without targets or mask');
    if (msg.runId !== m.runId) throw new ProtocolError('E_ORDER', `activations for run ${msg.runId}, but the current run is ${m.runId}`);
    if (m.state !== 'training') throw new ProtocolError('E_ORDER', `the run is ${m.state}; wait for run-state "training"`);
    if (msg.round !== m.round) throw new ProtocolError('E_ORDER', `activations for round ${msg.round}, but the current round is ${m.round}; wait for the aggregate`);
    if (m.excludedRound === m.round) throw new ProtocolError('E_ORDER', `this client was left out of round ${m.round}; wait for the aggregate`);
    if (m.inFlight) throw new ProtocolError('E_ORDER', 'the previous step is still being processed; wait for its gradient');
    if (m.stepsInRound >= cfg.interval) throw new ProtocolError('E_ORDER', `all ${cfg.interval} steps of round ${m.round} are done; upload the adapter and wait for the aggregate`);
    const model = this.opts.model.config;
    checkActivations(msg, { dModel: model.nEmbd, maxBatch: cfg.batch, maxSeqLen: cfg.seqLen, vocabSize: model.vocabSize });
    const acts = decodeTensor(msg.acts);
    const mask = msg.mask instanceof Float32Array ? msg.mask : Float32Array.from(msg.mask);
    m.inFlight = true;
    try {
      const part = await this.partAt(msg.runId, msg.round);
      let reply: Awaited<ReturnType<ServerEngine['submit']>>;
      try {
        reply = await part.engine.submit({ clientId: m.clientId!, acts, targets: msg.targets, mask });
      } catch (e) {
        if (e instanceof ComputeUnavailable) throw new ProtocolError('E_COMPUTE', `this node's compute failed (${e.message}); the step was not applied`);
        throw e;
      }
      if (!Number.isFinite(reply.loss)) throw new ProtocolError('E_NONFINITE', 'the server loss for this batch is not finite; the step was not applied to this client');
      const grad = encodeTensor(reply.grad, cfg.wire.grad);
      // As on a single server, a step that was computed while its round closed counts in the next
      // one (the volunteer counts it there too; the coordinator does the same).
      m.stepsInRound += 1;
      socket.emit('gradient', { v: PROTOCOL_VERSION, runId: msg.runId, step: msg.step, grad, loss: reply.loss });
      const tokens = msg.batch * msg.seqLen;
      await this.up({ type: 'step', node: this.id, sid: socket.id, gen: part.generation, runId: msg.runId, round: msg.round, tokens, bytesUp: bytes, bytesDown: grad.data.byteLength + 64, loss: reply.loss });
    } finally {
      m.inFlight = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.io.close().catch(() => {});
    const r = this.redis;
    this.redis = null;
    if (r) await Promise.all([r.cmd.quit(), r.pub.quit(), r.sub.quit()].map((p) => p.catch(() => {})));
    await this.compute.close();
  }
}

/** Keeps a socket's mirror in step with what the coordinator sent it. */
function observe(m: Mirror, event: string, p: Record<string, unknown>): void {
  if (!p || typeof p !== 'object') return;
  if (event === 'welcome') {
    Object.assign(m, { clientId: p.clientId as string, resumeToken: p.resumeToken as string, rejoining: false, runId: p.runId as string, config: p.config as RunConfig, round: p.round as number, stepsInRound: 0, excludedRound: null });
  } else if (p.runId !== m.runId) {
    return;
  } else if (event === 'run-state') {
    if (p.round !== m.round) Object.assign(m, { stepsInRound: 0, excludedRound: null });
    m.round = p.round as number;
    m.state = p.state as string;
  } else if (event === 'aggregate') {
    // The next round opens with the aggregate; its run-state may come a moment later.
    Object.assign(m, { round: (p.round as number) + 1, stepsInRound: 0, excludedRound: null });
  } else if (event === 'excluded') {
    m.excludedRound = p.round as number;
  }
}
