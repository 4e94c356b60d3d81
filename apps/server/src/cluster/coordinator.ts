// The coordinator of a cluster run (`splitlora serve --redis URL`): the API, rounds, aggregation,
// SQLite and checkpoints stay here, in the ordinary RunManager and Run. Volunteers connect to
// nodes (node.ts); each node puts their hellos, step counts, adapter uploads and departures on
// the Redis stream, and this class plays them into the Run as if the sockets were local. What the
// Run sends a remote volunteer goes back through socket.io's Redis adapter to that socket id,
// on whichever node holds it. At every aggregation the nodes' server replicas are averaged
// (average.ts) into this process's server part, which the checkpoint then saves.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Server } from 'socket.io';
import type { Redis } from 'ioredis';
import { PROTOCOL_VERSION, ProtocolError, type AdapterMessage, type HelloMessage } from '@splitlora/protocol';
import type { ServerPartSpec, ServerSnapshot } from '../compute/server-compute';
import type { AggregationStage, ClientRecord, Run, Send } from '../run';
import type { RunSettings } from '../settings';
import { refusedSteps, type StepExecution } from '../step-execution';
import type { ClusterHooks, RunManager } from '../run-manager';
import { averageReplicas, type Replica } from './average';
import { HEARTBEAT_MS, HEARTBEAT_TTL_S, RUN_KEY, SNAPSHOT_TTL_S, nodeKey, UP_STREAM, attachRedisAdapter, averageKey, connectRedis, pack, unpack, type RunAnnouncement, type UpEvent } from './redis';

/** A volunteer socket on some node, as this coordinator sees it. */
interface Remote {
  sid: string;
  node: string;
  /** A hello that waits for a run (the lobby). */
  hello: HelloMessage | null;
  rec: ClientRecord | null;
  run: Run | null;
}

interface CollectAck {
  node: string;
  key: string;
  tokens: number;
  steps: number;
}

/** What one aggregation of the server replicas did (tests and logs). */
export interface ServerAverageEvent {
  runId: string;
  round: number;
  replicas: Replica[];
  average: ServerSnapshot;
}

/** socket.io's server-side emits with acknowledgements, untyped (the events are ours, not the volunteers'). */
type ServerSide = { serverSideEmit(ev: string, ...args: unknown[]): boolean; serverSideEmitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> };

export class ClusterCoordinator extends EventEmitter implements ClusterHooks {
  private io: Server | null = null;
  private clients: { pub: Redis; sub: Redis; cmd: Redis; reader: Redis } | null = null;
  private readonly remotes = new Map<string, Remote>();
  private readonly specs = new Map<string, ServerPartSpec>();
  /** The coordinator's own replica counters at the last average (volunteers that connect here directly). */
  private readonly marks = new Map<string, { tokens: number; steps: number }>();
  private closed = false;
  private readonly epoch = randomBytes(6).toString('hex');
  /** See RunAnnouncement.generation. */
  private generation = 0;
  /** Nodes heard from (their events, replicas, node-up): a reset waits for all of them. */
  private readonly nodes = new Set<string>();
  private redisDown = false;
  /** When Redis last came back (a restarted Redis has lost every heartbeat key for a moment). */
  private redisBackAt = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  /**
   * serverReplicas "single": the node that owns each run's server model (null: none was up). It is
   * the lowest id, in string order, among the nodes whose heartbeat is live when the run is
   * announced; it changes only when that node dies (the round then restarts on the next one).
   */
  private readonly owners = new Map<string, string | null>();
  /** A round restart (Redis back, owner lost) is under way. */
  private restarting: Promise<void> | null = null;

  /** The runs registry it plays the nodes' events into (given at start). */
  manager!: RunManager;

  constructor(readonly url: string, private readonly log: FastifyBaseLogger) {
    super();
    connectRedis(url, 'check').disconnect(); // a bad URL fails at start, with the flag's name
  }

  /** Connects to Redis, puts the adapter on `io`, announces the current run and reads the nodes' stream. */
  async start(io: Server, manager: RunManager): Promise<void> {
    this.manager = manager;
    const onError = (err: Error) => this.log.warn({ err: err.message }, `Redis ${this.url}: ${err.message}`);
    const { pub, sub } = await attachRedisAdapter(io, this.url, 'coordinator', onError);
    const cmd = connectRedis(this.url, 'coordinator-cmd', onError);
    const reader = connectRedis(this.url, 'coordinator-reader', onError);
    await Promise.all([cmd.connect(), reader.connect()]);
    this.clients = { pub, sub, cmd, reader };
    this.io = io;
    io.on('cluster:node-up', (node: string) => {
      this.nodes.add(node);
      this.log.info({ node }, `cluster node ${node} is up`);
      const run = this.manager.current;
      if (!run?.active || run.settings.serverReplicas !== 'single') return;
      const owner = this.owners.get(run.id);
      if (owner === null) this.background('giving the server model an owner', this.reassignOwner(run, null));
      // The owner restarted (faster than its heartbeat expires): it reopened the server model from the last aggregate.
      else if (owner === node && !this.restarting) {
        run.holdForCompute(`the server model's owner, node ${node}, restarted`);
        this.log.warn({ run: run.id, owner }, `the server model's owner, node ${node}, restarted; round ${run.round} restarts from the last aggregate`);
        this.background('restarting the round', this.restartRound(run));
      }
    });
    cmd.on('close', () => this.onRedisLost());
    cmd.on('ready', () => {
      if (this.redisDown) this.background('resuming after Redis came back', this.onRedisBack());
    });
    // Only what nodes send from now on: events of an earlier coordinator's sockets mean nothing here.
    const last = await cmd.xrevrange(UP_STREAM, '+', '-', 'COUNT', 1);
    const from = last.length ? last[0][0] : '0-0';
    const current = this.manager.current;
    if (current?.active) await this.announce(current);
    this.loop = this.read(from);
    this.watchdog = setInterval(() => void this.checkNodes().catch(() => {}), HEARTBEAT_MS);
    this.watchdog.unref();
    this.log.info({ redis: this.url }, 'cluster coordinator: reading node events from Redis');
  }

  private get side(): ServerSide {
    return this.io as unknown as ServerSide;
  }

  /** Asks every other process; resolves with the answers that came within the adapter's timeout (a killed node's never do). */
  private ask(ev: string, req: unknown): Promise<unknown[]> {
    return new Promise((resolve) => {
      this.side.serverSideEmit(ev, req, (err: Error | null, responses: unknown[]) => {
        if (err) this.log.warn({ event: ev, answers: responses?.length ?? 0 }, `${ev}: ${err.message}; going on with the answers that came`);
        resolve(responses ?? []);
      });
    });
  }

  // ---- ClusterHooks -------------------------------------------------------------------------

  stepsFor(runId: string, settings: RunSettings): StepExecution | undefined {
    // The server model lives on its owner node: a step computed here would fork it.
    if (settings.serverReplicas === 'single') return refusedSteps(`run ${runId} keeps its server model on one cluster node (serverReplicas "single"); connect to a node, not to the coordinator`);
    return undefined;
  }

  averagingStage(run: Run, spec: ServerPartSpec): AggregationStage {
    this.specs.set(run.id, spec);
    return {
      name: 'average server replicas',
      run: (e) => run.opts.engine.between(() => this.averageServer(run, e.round)).catch((err) => {
        this.log.error({ run: run.id, round: e.round, err }, `averaging the server replicas of round ${e.round} failed; the nodes keep their own replicas until the next aggregation`);
      }),
    };
  }

  attached(run: Run): void {
    for (const r of this.remotes.values()) if (r.hello && !r.rec) this.join(r);
    if (this.io) this.announce(run).catch((err) => this.log.error({ run: run.id, err }, 'announcing the run to the nodes failed'));
  }

  /** serverReplicas "single": the run's owner node now (undefined: not assigned yet, or another mode). */
  ownerOf(runId: string): string | null | undefined {
    return this.owners.get(runId);
  }

  /** The lowest live node id (heartbeat key present), excluding `not`; null when none is up. */
  private async electOwner(not: string | null): Promise<string | null> {
    const ids = (await this.liveNodes()).map((n) => n.id);
    return ids.filter((n) => n !== not).sort()[0] ?? null;
  }

  /**
   * The owner died (or none was up): hold the run, give the server model to the next live node
   * from the last aggregate, and restart the round there. With no node left the run stays paused
   * until one comes up (cluster:node-up).
   */
  /**
   * Work started from an event or a timer: a failure (Redis gone mid-way, or closed under it at
   * shutdown) is logged, never left as an unhandled rejection that would take the process down.
   */
  private background(what: string, work: Promise<unknown>): void {
    work.catch((err) => {
      if (!this.closed) this.log.warn({ err: (err as Error)?.message ?? err }, `cluster coordinator: ${what} failed`);
    });
  }

  private async reassignOwner(run: Run, lost: string | null): Promise<void> {
    if (this.restarting) return this.restarting.then(() => undefined);
    const why = lost ? `the server model's owner, node ${lost}, is gone (heartbeat expired)` : 'no cluster node owns the server model yet (serverReplicas "single")';
    run.holdForCompute(why);
    const owner = await this.electOwner(lost);
    if (!owner) {
      this.owners.set(run.id, null);
      this.log.error({ run: run.id, lost }, `${why}; no other node is up, so run ${run.id} stays paused until one registers`);
      return;
    }
    this.owners.set(run.id, owner);
    this.log.warn({ run: run.id, lost, owner }, `${why}; node ${owner} now owns the server model and round ${run.round} restarts from the last aggregate`);
    await this.restartRound(run);
  }

  // ---- the nodes' events -------------------------------------------------------------------

  private async read(from: string): Promise<void> {
    let id = from;
    const reader = this.clients!.reader;
    while (!this.closed) {
      let res: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        res = (await reader.xreadBuffer('COUNT', 256, 'BLOCK', 1000, 'STREAMS', UP_STREAM, id)) as typeof res;
      } catch (err) {
        if (this.closed) return;
        this.log.warn({ err }, 'reading the node stream failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const [, entries] of res ?? []) {
        for (const [entryId, fields] of entries) {
          id = entryId.toString();
          try {
            this.handle(unpack<UpEvent>(fields[1]));
          } catch (err) {
            this.log.error({ err, entry: id }, 'a node event could not be applied');
          }
        }
      }
    }
  }

  private sendTo(sid: string): Send {
    return ((name: string, msg: unknown) => {
      this.io?.to(sid).emit(name, msg);
    }) as Send;
  }

  private reject(sid: string, event: string, e: unknown, client?: string): void {
    const err = e instanceof ProtocolError ? e : new ProtocolError('E_INTERNAL', 'the server failed to handle this message; it was not applied');
    this.log.warn({ client: client ?? sid, event, code: err.code, err: e instanceof ProtocolError ? undefined : e }, err.message);
    this.io?.to(sid).emit('error', { v: PROTOCOL_VERSION, code: err.code, message: err.message });
  }

  private join(r: Remote): void {
    const run = this.manager.current;
    if (!run || !run.active || !r.hello) return; // waits in the lobby for a run
    const hello = r.hello;
    r.hello = null;
    try {
      r.rec = run.hello(hello, this.sendTo(r.sid));
      r.run = run;
    } catch (e) {
      this.reject(r.sid, 'hello', e);
    }
  }

  private handle(ev: UpEvent): void {
    this.nodes.add(ev.node);
    // Computed on a replica the last Redis outage abandoned: its round restarted without it.
    if ((ev.type === 'step' || ev.type === 'adapter') && ev.gen !== this.generation) return;
    let r = this.remotes.get(ev.sid);
    if (ev.type === 'hello') {
      r ??= { sid: ev.sid, node: ev.node, hello: null, rec: null, run: null };
      this.remotes.set(ev.sid, r);
      if (r.rec) return this.reject(ev.sid, 'hello', new ProtocolError('E_ORDER', 'hello was already received on this connection'), r.rec.id);
      r.hello = ev.msg as HelloMessage;
      this.join(r);
      return;
    }
    if (ev.type === 'disconnect') {
      this.remotes.delete(ev.sid);
      if (r?.rec && r.run) r.run.disconnect(r.rec);
      return;
    }
    if (!r?.rec || !r.run) {
      if (ev.type === 'adapter') this.reject(ev.sid, ev.type, new ProtocolError('E_ORDER', 'adapter before welcome; send hello first and wait for the run'));
      return;
    }
    if (ev.type === 'step') {
      if (ev.runId === r.run.id) r.run.recordRemoteStep(r.rec, ev);
    } else if (ev.type === 'adapter') {
      try {
        r.run.adapter(r.rec, ev.msg as AdapterMessage, ev.bytes);
      } catch (e) {
        this.reject(ev.sid, 'adapter', e, r.rec.id);
      }
    }
  }

  /**
   * A node whose heartbeat key expired is dead (killed, or cut off): its volunteers are gone, as
   * if each had disconnected, so the round closes without them and they can come back elsewhere.
   */
  private async checkNodes(): Promise<void> {
    if (!this.clients || this.redisDown || Date.now() - this.redisBackAt < 2 * HEARTBEAT_TTL_S * 1000) return;
    const withSockets = new Set([...this.remotes.values()].map((r) => r.node));
    const run = this.manager.current;
    const owner = run?.active ? this.owners.get(run.id) : undefined;
    if (owner) withSockets.add(owner);
    for (const node of withSockets) {
      if (await this.clients.cmd.exists(nodeKey(node))) continue;
      if (this.redisDown) return;
      this.nodes.delete(node); // a round restart waits for no answer from it
      if (node === owner && run && this.owners.get(run.id) === owner && !this.restarting) this.background('giving the server model a new owner', this.reassignOwner(run, owner));
      const gone = [...this.remotes.values()].filter((r) => r.node === node);
      this.log.warn({ node, volunteers: gone.length }, `cluster node ${node} stopped answering (heartbeat expired); its ${gone.length} volunteers are disconnected`);
      for (const r of gone) {
        this.remotes.delete(r.sid);
        if (r.rec && r.run) r.run.disconnect(r.rec);
      }
    }
  }

  // ---- Redis outages -------------------------------------------------------------------------

  /**
   * Redis is gone: broadcasts, uploads and the replicas' averaging cannot get through. The live
   * run is held (paused, as when its compute fails) until Redis is back.
   */
  private onRedisLost(): void {
    if (this.closed || this.redisDown) return;
    this.redisDown = true;
    const run = this.manager.current;
    this.log.error({ run: run?.id }, 'lost the connection to Redis; the run is paused until it is back');
    if (run?.active) run.holdForCompute('redis: connection lost');
  }

  /**
   * Redis is back (possibly empty: a restart loses keys and pub/sub messages). The round restarts
   * from the last aggregate: every node reopens its replica from it (a new generation, so steps
   * computed on the old ones are ignored), then every volunteer gets the average and its state in
   * a fresh welcome and redoes the round.
   */
  private async onRedisBack(): Promise<void> {
    this.redisDown = false;
    this.redisBackAt = Date.now();
    const run = this.manager.current;
    if (!run?.active || this.closed) return;
    await this.restartRound(run);
    this.log.warn({ run: run.id, round: run.round, generation: this.generation }, `Redis is back; run ${run.id} restarted round ${run.round} from its last aggregate`);
  }

  /**
   * Restarts the held run's round from the last aggregate (see onRedisBack): a new generation,
   * every known node reopens its part from it, then every volunteer gets a fresh welcome.
   */
  private restartRound(run: Run): Promise<void> {
    const go = this.restartRoundNow(run).finally(() => { this.restarting = null; });
    this.restarting = go;
    return go;
  }

  private async restartRoundNow(run: Run): Promise<void> {
    this.generation += 1;
    const engine = run.opts.engine;
    try {
      const from = engine.restorePoint ?? (await engine.snapshot());
      await engine.between(() => engine.compute.restore(from));
      this.marks.set(run.id, { tokens: engine.stats.tokens, steps: engine.stats.serverSteps });
      await this.announce(run, from, run.round);
      // Until every node we know has reopened its replica (its pub/sub comes back on its own reconnect).
      const t0 = Date.now();
      const ready = new Set<string>();
      while (Date.now() - t0 < 20_000 && [...this.nodes].some((n) => !ready.has(n))) {
        const acks = await this.ask('cluster:reset', { runId: run.id, generation: this.generation });
        for (const a of acks as ({ node: string; generation: number } | null)[]) if (a && a.generation === this.generation) ready.add(a.node);
        if ([...this.nodes].some((n) => !ready.has(n))) await new Promise((r) => setTimeout(r, 250));
      }
      const missing = [...this.nodes].filter((n) => !ready.has(n));
      if (missing.length) this.log.warn({ missing }, `nodes ${missing.join(', ')} did not reopen their part for the round restart; the run goes on without them`);
    } catch (err) {
      this.log.error({ err }, 'restarting the round failed');
    }
    run.resumeAfterCompute();
  }

  // ---- the server replicas -----------------------------------------------------------------

  /** Puts the run's spec, starting from the server part now, where nodes find it, and tells them. */
  private async announce(run: Run, from?: ServerSnapshot, round = run.round): Promise<void> {
    const spec = this.specs.get(run.id);
    if (!spec || !this.clients) return;
    const start = from ?? (await run.opts.engine.snapshot());
    const single = run.settings.serverReplicas === 'single';
    if (single && !this.owners.has(run.id)) {
      const owner = await this.electOwner(null);
      this.owners.set(run.id, owner);
      if (owner) this.log.info({ run: run.id, owner }, `run ${run.id}: node ${owner} owns the server model (serverReplicas "single"); the other nodes forward their steps to it`);
      else this.background('giving the server model an owner', this.reassignOwner(run, null)); // holds the run until a node is up
    }
    const ann: RunAnnouncement = {
      runId: run.id, spec: { ...spec, from: start }, round, batching: run.settings.batching, epoch: this.epoch, generation: this.generation,
      serverReplicas: run.settings.serverReplicas, ...(single ? { owner: this.owners.get(run.id) ?? null } : {}),
    };
    await this.clients.cmd.set(RUN_KEY, pack(ann));
    this.side.serverSideEmit('cluster:run', { runId: run.id, round });
  }

  /**
   * Collects every node's replica (and this process's own, when volunteers train here too),
   * averages them by tokens served, loads the average here and sends it to every node. Runs
   * between two server steps of this process's part.
   */
  private async averageServer(run: Run, round: number): Promise<void> {
    if (!this.clients || this.closed) return;
    const { cmd } = this.clients;
    const engine = run.opts.engine;
    const acks = (await this.ask('cluster:collect', { runId: run.id, round })).filter((a): a is CollectAck => a !== null && typeof a === 'object');
    const replicas: Replica[] = [];
    const single = run.settings.serverReplicas === 'single';
    const owner = this.owners.get(run.id);
    if (single && !acks.some((a) => a.node === owner)) throw new Error(`the server model's owner (node ${owner ?? 'none'}) did not hand in its state for round ${round}`);
    for (const a of acks) {
      this.nodes.add(a.node);
      const buf = await cmd.getBuffer(a.key);
      if (!buf) throw new Error(`node ${a.node}'s replica of round ${round} is not in Redis (${a.key})`);
      replicas.push({ node: a.node, tokens: a.tokens, steps: a.steps, snapshot: unpack<ServerSnapshot>(buf) });
    }
    const mark = this.marks.get(run.id) ?? { tokens: engine.restorePoint?.stats.tokens ?? 0, steps: engine.restorePoint?.stats.serverSteps ?? 0 };
    const own = { tokens: engine.stats.tokens - mark.tokens, steps: engine.stats.serverSteps - mark.steps };
    // "single": the owner's state alone (the only replica that trains), copied as it is.
    if (!single && (own.tokens > 0 || replicas.length === 0)) replicas.push({ node: 'coordinator', ...own, snapshot: await engine.compute.snapshot() });
    const base = engine.restorePoint?.stats ?? { serverSteps: 0, tokens: 0 };
    const average = averageReplicas(replicas, base);
    await engine.compute.restore(average);
    Object.assign(engine.stats, average.stats);
    this.marks.set(run.id, { tokens: engine.stats.tokens, steps: engine.stats.serverSteps });
    const key = averageKey(run.id, round);
    await cmd.set(key, pack(average), 'EX', SNAPSHOT_TTL_S);
    await this.announce(run, average, round + 1);
    await this.ask('cluster:apply', { runId: run.id, round, key });
    this.log.info({ run: run.id, round, replicas: replicas.map((r) => ({ node: r.node, tokens: r.tokens })) }, `server replicas of round ${round} averaged`);
    this.emit('server-average', { runId: run.id, round, replicas, average } satisfies ServerAverageEvent);
  }

  /**
   * The live nodes (heartbeat key present) and the URL each was started with (`node --public-url`;
   * null without one), for pages to fail over between (GET /api/nodes).
   */
  async liveNodes(): Promise<{ id: string; url: string | null }[]> {
    if (!this.clients || this.redisDown) return [];
    const { cmd } = this.clients;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await cmd.scan(cursor, 'MATCH', nodeKey('*'), 'COUNT', 100);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await cmd.mget(...keys);
    return keys
      .map((k, i) => ({ id: k.slice(nodeKey('').length), url: values[i] && values[i] !== '1' ? values[i] : null }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    const c = this.clients;
    this.clients = null;
    if (!c) return;
    c.reader.disconnect(); // ends the blocked XREAD
    await this.loop?.catch(() => {});
    await Promise.all([c.cmd.quit(), c.pub.quit(), c.sub.quit()].map((p) => p.catch(() => {})));
  }
}
