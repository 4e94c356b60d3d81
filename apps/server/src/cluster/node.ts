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
  PROTOCOL_VERSION, ProtocolError, checkActivations, maxMessageBytes, msgpackParser,
  type ActivationsMessage, type HelloMessage, type RunConfig, type WireFormat, type WireTensor,
} from '@splitlora/protocol';
import { WorkerServerCompute, sharedRecord } from '../compute/compute-worker';
import { resolveEngine, trainCompute, type EngineChoice, type ResolvedEngine } from '../compute/engines';
import type { ComputeService } from '../compute/service';
import type { ServerSnapshot } from '../compute/server-compute';
import { ServerEngine } from '../engine';
import { admitStep } from '../step-admission';
import { localSteps, refusedSteps, type StepExecution, type WireStep } from '../step-execution';
import type { LoadedModel } from '../run-manager';
import { readClientMessage } from '../socket';
import {
  FORWARD_TIMEOUT_MS, HEARTBEAT_MS, HEARTBEAT_TTL_S, INBOX_TTL_MS, RUN_KEY, SNAPSHOT_TTL_S, nodeKey, UP_STREAM, attachRedisAdapter, connectRedis, inboxKey, pack, replicaKey, unpack,
  type InboxMessage, type RunAnnouncement, type UpEvent,
} from './redis';

export interface NodeOptions {
  redis: string;
  port: number;
  host?: string;
  model: LoadedModel;
  /** The compute worker's tfjs backend (selectNodeBackend's names; default "auto"). */
  backend?: string;
  /** The training engine (default tfjs). */
  engine?: EngineChoice | ResolvedEngine;
  /** Node name in logs and the coordinator's replica list (default: random). */
  id?: string;
  /** The URL volunteers reach this node at (behind a proxy, say); the coordinator lists it at /api/nodes for pages to fail over between. */
  publicUrl?: string;
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
  /** serverReplicas "single": only `owner`'s engine trains; the other nodes forward to it. */
  single: boolean;
  owner: string | null;
  /** How this node's volunteers' steps execute on it (chosen when the replica opens). */
  steps: StepExecution;
}

/** A step this node forwarded to the owner, waiting for its answer. */
interface Forwarded {
  resolve: (r: { loss: number; grad: WireTensor }) => void;
  reject: (e: ProtocolError) => void;
  generation: number;
  owner: string;
  deadline: number;
}

/** How long a step waits for its round's server average before it is refused. */
const AVERAGE_WAIT_MS = 60_000;

export class ClusterNode extends EventEmitter {
  readonly id: string;
  readonly http: HttpServer;
  readonly io: Server;
  readonly compute: ComputeService;
  private redis: { pub: Redis; sub: Redis; cmd: Redis; inbox: Redis } | null = null;
  /** serverReplicas "single": steps forwarded to the owner, by request id. */
  private readonly forwards = new Map<string, Forwarded>();
  private forwardWatch: NodeJS.Timeout | null = null;
  private inboxLoop: Promise<void> | null = null;
  private part: Part | null = null;
  /** Every volunteer socket here, with its last hello (to say it again to a new coordinator). */
  private readonly volunteers = new Map<string, { mirror: Mirror; hello: HelloMessage | null }>();
  private opening: Promise<Part | null> | null = null;
  private closed = false;
  private heartbeat: NodeJS.Timeout | null = null;
  port = 0;

  private constructor(readonly opts: NodeOptions, engine: ResolvedEngine) {
    super();
    this.id = opts.id ?? `node-${randomBytes(3).toString('hex')}`;
    const { config } = opts.model;
    this.compute = trainCompute(engine, { backend: opts.backend ?? 'auto', config, weights: sharedRecord(opts.model.weights), onStderr: (line) => this.say(`torch engine: ${line}`) });
    this.http = createServer((req, res) => {
      if (req.url === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, node: this.id, run: this.part?.runId ?? null, round: this.part?.round ?? null, owner: this.part?.single ? this.part.owner : undefined, compute: this.compute.health }));
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
    const engine = opts.engine === undefined ? { engine: 'tfjs' as const, why: 'default' } : 'why' in opts.engine ? opts.engine : await resolveEngine(opts.engine);
    const node = new ClusterNode(opts, engine);
    await node.compute.start();
    const onError = (e: Error) => node.say(`node ${node.id}: Redis ${opts.redis}: ${e.message}`);
    const { pub, sub } = await attachRedisAdapter(node.io, opts.redis, node.id, onError);
    const cmd = connectRedis(opts.redis, `${node.id}-cmd`, onError);
    const inbox = connectRedis(opts.redis, `${node.id}-inbox`, onError); // BLPOP blocks its connection
    await Promise.all([cmd.connect(), inbox.connect()]);
    node.redis = { pub, sub, cmd, inbox };
    node.listenCluster();
    node.inboxLoop = node.readInbox();
    node.forwardWatch = setInterval(() => void node.checkForwards().catch(() => {}), HEARTBEAT_MS);
    node.forwardWatch.unref();
    // Liveness: a node killed outright cannot say its volunteers left; the coordinator sees this key expire.
    const beat = () => void cmd.set(nodeKey(node.id), opts.publicUrl ?? '1', 'EX', HEARTBEAT_TTL_S).catch(() => {});
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

  /** The replica now (tests). In serverReplicas "single" only the owner's engine trains. */
  get replica(): { runId: string; round: number; engine: ServerEngine; single: boolean; owner: string | null } | null {
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
      this.failForwards(() => true, `the run's server part was reopened (generation ${ann.generation}, owner ${ann.owner ?? 'none'}); the round restarts from the last aggregate`);
      if (old) await old.engine.compute.dispose().catch(() => {});
      if (old && old.epoch !== ann.epoch) await this.rejoinAll(ann.epoch);
      const key = `part-${randomBytes(4).toString('hex')}`;
      const engine = new ServerEngine(await WorkerServerCompute.open(this.compute, key, ann.spec), { batching: ann.batching, maxGroup: 16 });
      if (ann.spec.from) {
        engine.restorePoint = ann.spec.from;
        Object.assign(engine.stats, ann.spec.from.stats);
      }
      const single = ann.serverReplicas === 'single';
      const part: Part = {
        runId: ann.runId, epoch: ann.epoch, generation: ann.generation, key, engine, round: ann.round, waiters: [], mark: { tokens: engine.stats.tokens, steps: engine.stats.serverSteps },
        single, owner: single ? (ann.owner ?? null) : null, steps: refusedSteps('the replica is opening'),
      };
      part.steps = this.stepsOf(part);
      this.part = part;
      this.say(single
        ? `node ${this.id}: run ${ann.runId} at round ${ann.round}, serverReplicas "single": ${ann.owner === this.id ? 'this node owns the server model' : `forwarding steps to node ${ann.owner ?? '(none yet)'}`}`
        : `node ${this.id}: replica of run ${ann.runId} open at round ${ann.round}`);
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
    if (part.single && part.owner !== this.id) return null; // its engine never trains
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
    if (part.single) {
      // The owner's engine is the server model (the "average" is its own snapshot); the others never train.
      part.round = req.round + 1;
      for (const w of part.waiters.splice(0)) w();
      this.emit('applied', { round: req.round });
      return;
    }
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
    admitStep('activations', msg, m, cfg);
    const model = this.opts.model.config;
    checkActivations(msg, { dModel: model.nEmbd, maxBatch: cfg.batch, maxSeqLen: cfg.seqLen, vocabSize: model.vocabSize });
    const mask = msg.mask instanceof Float32Array ? msg.mask : Float32Array.from(msg.mask);
    m.inFlight = true;
    let part: Part;
    let reply: { loss: number; grad: WireTensor };
    try {
      part = await this.partAt(msg.runId, msg.round);
      reply = await part.steps.step({ clientId: m.clientId!, round: msg.round, acts: msg.acts, targets: msg.targets, mask }, cfg.wire.grad);
      if (!Number.isFinite(reply.loss)) throw new ProtocolError('E_NONFINITE', 'the server loss for this batch is not finite; the step was not applied to this client');
    } finally {
      // Before the gradient goes out: the volunteer's next step may arrive while the step count
      // below is still on its way to Redis.
      m.inFlight = false;
    }
    const { loss, grad } = reply;
    // As on a single server, a step that was computed while its round closed counts in the next
    // one (the volunteer counts it there too; the coordinator does the same).
    m.stepsInRound += 1;
    socket.emit('gradient', { v: PROTOCOL_VERSION, runId: msg.runId, step: msg.step, grad, loss });
    const tokens = msg.batch * msg.seqLen;
    await this.up({ type: 'step', node: this.id, sid: socket.id, gen: part.generation, runId: msg.runId, round: msg.round, tokens, bytesUp: bytes, bytesDown: grad.data.byteLength + 64, loss });
  }

  /** How this node executes its volunteers' steps on a replica: here, or (serverReplicas "single", not the owner) forwarded to the owner. */
  private stepsOf(part: Part): StepExecution {
    if (!part.single || part.owner === this.id) return localSteps(part.engine, (reason) => `this node's compute failed (${reason}); the step was not applied`);
    const uShaped = () => Promise.reject(new ProtocolError('E_ORDER', 'cluster nodes do not serve the U-shaped split (labels "client") yet; run it on a single server'));
    return { step: (req, wire) => this.forward(part, req, wire), forward: uShaped, backward: uShaped, drop: async () => {} };
  }

  // ---- serverReplicas "single": steps forwarded to the owner -----------------------------

  /** Sends one validated step to the owner's inbox; resolves with its loss and cut gradient (encoded as `gradWire`). */
  private forward(part: Part, req: WireStep, gradWire: WireFormat): Promise<{ loss: number; grad: WireTensor }> {
    const owner = part.owner;
    if (!owner) return Promise.reject(new ProtocolError('E_COMPUTE', `no cluster node owns run ${part.runId}'s server model yet (serverReplicas "single"); the run is paused until one is up`));
    const id = `${this.id}:${randomBytes(6).toString('hex')}`;
    const deadline = Date.now() + FORWARD_TIMEOUT_MS;
    const msg: InboxMessage = { kind: 'step', id, from: this.id, runId: part.runId, generation: part.generation, deadline, ...req, gradWire };
    return new Promise((resolve, reject) => {
      this.forwards.set(id, { resolve, reject, generation: part.generation, owner, deadline });
      this.push(owner, msg).catch((e) => this.settleForward(id, new ProtocolError('E_COMPUTE', `forwarding the step to node ${owner} failed (${(e as Error).message}); it was not applied`)));
    });
  }

  private async push(node: string, msg: InboxMessage): Promise<void> {
    const key = inboxKey(node);
    await this.redis!.cmd.multi().rpush(key, pack(msg)).pexpire(key, INBOX_TTL_MS).exec();
  }

  private settleForward(id: string, outcome: ProtocolError | { loss: number; grad: WireTensor }): void {
    const f = this.forwards.get(id);
    if (!f) return; // answered already, or given up on
    this.forwards.delete(id);
    if (outcome instanceof ProtocolError) f.reject(outcome);
    else f.resolve(outcome);
  }

  private failForwards(which: (f: Forwarded) => boolean, message: string): void {
    for (const [id, f] of this.forwards) if (which(f)) this.settleForward(id, new ProtocolError('E_COMPUTE', message));
  }

  /** A forwarded step never hangs: it fails (E_COMPUTE) past its deadline or once the owner's heartbeat is gone. */
  private async checkForwards(): Promise<void> {
    if (this.forwards.size === 0 || !this.redis) return;
    const now = Date.now();
    this.failForwards((f) => f.deadline < now, `the server model's owner did not answer within ${FORWARD_TIMEOUT_MS / 1000} s; the step was not applied`);
    for (const owner of new Set([...this.forwards.values()].map((f) => f.owner))) {
      if (await this.redis.cmd.exists(nodeKey(owner))) continue;
      this.say(`node ${this.id}: the server model's owner, node ${owner}, stopped answering (heartbeat expired); failing its forwarded steps`);
      this.failForwards((f) => f.owner === owner, `the server model's owner, node ${owner}, is gone (heartbeat expired); the step was not applied. The run pauses and restarts the round on another owner`);
    }
  }

  /** Reads this node's inbox: steps to compute (when it owns the server model) and answers to its own forwards. */
  private async readInbox(): Promise<void> {
    const key = inboxKey(this.id);
    while (!this.closed && this.redis) {
      let got: [Buffer, Buffer] | null;
      try {
        got = (await this.redis.inbox.blpopBuffer(key, 1)) as [Buffer, Buffer] | null;
      } catch {
        if (this.closed) return;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (!got) continue;
      let msg: InboxMessage;
      try {
        msg = unpack<InboxMessage>(got[1]);
      } catch (e) {
        this.say(`node ${this.id}: an inbox message could not be read: ${(e as Error).message}`);
        continue;
      }
      if (msg.kind === 'reply') {
        this.settleForward(msg.id, 'error' in msg ? new ProtocolError(msg.error.code as ProtocolError['code'], msg.error.message) : { loss: msg.loss, grad: msg.grad });
      } else {
        void this.serveForwarded(msg); // not awaited: the engine queues steps in arrival order (and batches them)
      }
    }
  }

  /** The owner computes a forwarded step on the server model and answers the node that sent it. */
  private async serveForwarded(req: Extract<InboxMessage, { kind: 'step' }>): Promise<void> {
    let answer: InboxMessage;
    try {
      const part = this.part;
      if (!part || part.runId !== req.runId || part.generation !== req.generation || !part.single || part.owner !== this.id) {
        throw new ProtocolError('E_COMPUTE', `node ${this.id} does not own the server model of run ${req.runId} (generation ${req.generation}); the round restarts from the last aggregate`);
      }
      const at = await this.partAt(req.runId, req.round);
      // Past its deadline the sender has answered E_COMPUTE: applying it now would diverge from the volunteer.
      if (Date.now() > req.deadline) return;
      const steps = localSteps(at.engine, (reason) => `the owner node ${this.id}'s compute failed (${reason}); the step was not applied`);
      const r = await steps.step(req, req.gradWire);
      answer = { kind: 'reply', id: req.id, loss: r.loss, grad: r.grad };
    } catch (e) {
      const err = e instanceof ProtocolError ? e : new ProtocolError('E_INTERNAL', `the owner node ${this.id} failed to compute this step; it was not applied`);
      if (!(e instanceof ProtocolError)) this.say(`node ${this.id}: a forwarded step from ${req.from} failed: ${(e as Error)?.message ?? e}`);
      answer = { kind: 'reply', id: req.id, error: { code: err.code, message: err.message } };
    }
    await this.push(req.from, answer).catch((e) => this.say(`node ${this.id}: answering node ${req.from} failed: ${(e as Error).message}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.forwardWatch) clearInterval(this.forwardWatch);
    this.failForwards(() => true, `node ${this.id} is shutting down; the step was not applied`);
    await this.io.close().catch(() => {});
    const r = this.redis;
    this.redis = null;
    if (r) {
      r.inbox.disconnect(); // ends the blocked BLPOP
      await this.inboxLoop?.catch(() => {});
      await Promise.all([r.cmd.quit(), r.pub.quit(), r.sub.quit()].map((p) => p.catch(() => {})));
    }
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
