// Runs: the live one (at most one is current), the ones in the store, and the resume of a run a
// crash interrupted. Client files are built once per cut; each run's server part lives in the
// training compute worker. When that worker fails, the live run is held (paused, reason
// "compute"), a fresh worker starts, the server part is rebuilt from the run's restore point (its
// state at the last aggregation, the checkpoint's server half) and the round restarts from there.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Server } from 'socket.io';
import type { ClientInfo, RecoveryInfo, RunDetail, RunStatus, RunSummary } from '@splitlora/protocol';
import { defaultCut, initLora, loraShapes, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';
import { adapterArchive } from './adapter-archive';
import { conflict, invalid, notFound } from './errors';
import { loadLatestCheckpoint, type CheckpointData } from './checkpoint';
import { WorkerServerCompute } from './compute/compute-worker';
import type { ServerPartSpec, ServerSnapshot } from './compute/server-compute';
import { ServerEngine } from './engine';
import { ComputeWorker } from './compute/compute-worker';
import type { ComputeService } from './compute/service';
import { clientModelFiles, type ClientFile, type ClientModelFiles } from './model-files';
import { RunRecorder } from './persistence';
import { Run, type RunRestore } from './run';
import { parseSettings, type RunSettings } from './settings';
import { admitLobby } from './socket';
import { ACTIVE_STATUSES, type ClientRow, type RunRow, type Store } from './store';

export interface LoadedModel {
  id: string;
  config: GPT2Config;
  weights: TensorRecord;
}

/** What a cluster coordinator (cluster/coordinator.ts) is told about runs; absent on a single server. */
export interface ClusterHooks {
  /** A run was built, before its recorder listens (so the replicas are averaged before each checkpoint). */
  built(run: Run, spec: ServerPartSpec): void;
  /** A run became the current one. */
  attached(run: Run): void;
}

export class RunManager {
  /** Set by a cluster coordinator; null on a single-process server. */
  cluster: ClusterHooks | null = null;
  /** Runs live in this process (the current one and earlier ones since the server started). */
  readonly runs = new Map<string, Run>();
  current: Run | null = null;
  io: Server | null = null;
  readonly recorders = new Map<string, RunRecorder>();
  readonly recovery = new Map<string, RecoveryInfo>();
  /** By `${cut}` (labels "server") or `${cut}+head` (labels "client": ln_f too). */
  private clientFiles = new Map<string, Promise<ClientModelFiles>>();
  private builtFiles: ClientModelFiles[] = [];
  /** Where each live run's server part sits in the compute worker, and how to rebuild it. */
  private parts = new Map<string, { key: string; spec: ServerPartSpec }>();
  /** Failure times of the training worker, for giving up on a crash loop. */
  private failures: number[] = [];
  private recovering: Promise<void> | null = null;
  private creating = false;

  constructor(
    /** Its weights sit on SharedArrayBuffers, read by the compute workers without a copy. */
    readonly model: LoadedModel,
    readonly limits: { maxBatch: number; maxSeqLen: number },
    private log: FastifyBaseLogger,
    readonly store: Store,
    /** Checkpoints go under <dataDir>/runs/<id>; null keeps none. */
    readonly dataDir: string | null,
    /** The training worker: every run's server part and optimizer. */
    readonly compute: ComputeService,
  ) {
    compute.on('failed', (reason: string) => {
      this.recovering = this.recoverCompute(reason).finally(() => { this.recovering = null; });
    });
  }

  cutOf(s: RunSettings): number {
    const cut = s.cut || defaultCut(this.model.config);
    if (cut < 1 || cut >= this.model.config.nLayer) throw invalid(`run settings/cut: ${cut} must be between 1 and ${this.model.config.nLayer - 1}`);
    return cut;
  }

  /**
   * The client part's download files for a cut, built once, off the main thread (1–2 s for GPT-2 S).
   * `head`: the U-shaped split's client part, which also holds ln_f.
   */
  files(cut: number, head = false): Promise<ClientModelFiles> {
    const key = head ? `${cut}+head` : `${cut}`;
    let f = this.clientFiles.get(key);
    if (!f) {
      f = this.buildFile(cut, 'F16', head).then((f16) => {
        const files = clientModelFiles(this.model.config, cut, f16, () => this.buildFile(cut, 'F32', head), head);
        this.builtFiles.push(files);
        return files;
      });
      f.catch(() => this.clientFiles.delete(key)); // a failed build is tried again on the next request
      this.clientFiles.set(key, f);
    }
    return f;
  }

  private async buildFile(cut: number, dtype: 'F16' | 'F32', head = false): Promise<ClientFile> {
    const worker = new ComputeWorker({ role: 'files', backend: 'none', config: this.model.config, weights: this.model.weights });
    try {
      await worker.start();
      return await worker.request<ClientFile>({ op: 'client-file', cut, dtype, ...(head ? { head } : {}) });
    } finally {
      await worker.close();
    }
  }

  filesByHash(hash: string): ClientModelFiles | undefined {
    return this.builtFiles.find((f) => f.hash === hash);
  }

  runDir(id: string): string | null {
    return this.dataDir ? join(this.dataDir, 'runs', id) : null;
  }

  // ---- creating and resuming ----------------------------------------------------------------

  async create(input: unknown): Promise<Run> {
    if (this.current?.active) throw conflict(`run ${this.current.id} is still ${this.current.state}; stop it first`);
    if (this.creating) throw conflict('another run is being created; try again in a moment');
    this.creating = true;
    try {
      return await this.createNow(input);
    } finally {
      this.creating = false;
    }
  }

  private async createNow(input: unknown): Promise<Run> {
    let settings: RunSettings;
    try {
      settings = parseSettings(input);
    } catch (e) {
      throw invalid((e as Error).message);
    }
    const cut = this.cutOf(settings);
    const { config } = this.model;
    if (settings.batch > this.limits.maxBatch || settings.seqLen > Math.min(this.limits.maxSeqLen, config.nPositions)) {
      throw invalid(`run settings: batch ${settings.batch} × seqLen ${settings.seqLen} exceeds this server's limit ${this.limits.maxBatch} × ${Math.min(this.limits.maxSeqLen, config.nPositions)} (raise --max-batch/--max-seq-len)`);
    }
    const run = await this.build(settings, cut, {});
    this.store.insertRun({
      id: run.id, name: settings.name, settings, modelId: this.model.id, cut, status: run.state, round: 0, globalStep: 0, lastLoss: null,
      createdAt: run.createdAt, updatedAt: run.createdAt,
    });
    this.attach(run);
    this.log.info({ run: run.id, cut, settings }, 'run created');
    return run;
  }

  /**
   * Brings back the newest run that was still going when the server stopped (crash or not), from
   * its newest intact checkpoint. Older interrupted runs are marked stopped. Returns the run, or
   * null when there is nothing to resume.
   */
  async resumeInterrupted(): Promise<Run | null> {
    const [row, ...older] = this.store.interruptedRuns();
    for (const o of older) {
      this.store.updateRun(o.id, { status: 'stopped', round: o.round, globalStep: o.globalStep, lastLoss: o.lastLoss, at: Date.now() });
      this.log.warn({ run: o.id }, `run ${o.id} was interrupted but ${row.id} is newer; ${o.id} is marked stopped`);
    }
    if (!row) return null;
    if (row.modelId !== this.model.id) {
      this.log.error({ run: row.id }, `cannot resume run ${row.id}: it trains model "${row.modelId}" but this server has "${this.model.id}"; restart with --model ${row.modelId} to resume it`);
      return null;
    }
    let settings: RunSettings;
    try {
      settings = parseSettings(row.settings);
    } catch (e) {
      this.log.error({ run: row.id }, `cannot resume run ${row.id}: its stored settings no longer validate (${(e as Error).message}); it is marked stopped`);
      this.store.updateRun(row.id, { status: 'stopped', round: row.round, globalStep: row.globalStep, lastLoss: row.lastLoss, at: Date.now() });
      return null;
    }
    const cut = row.cut;
    const lora = this.loraOf(settings);
    const dir = this.runDir(row.id)!;
    const loaded = await loadLatestCheckpoint(dir, (d) => this.checkShapes(d, lora, cut));
    for (const r of loaded.rejected) this.log.warn({ run: row.id, file: join(dir, r.file) }, `checkpoint ${r.file} is unusable: ${r.reason}`);
    const ck = loaded.checkpoint;
    if (ck && loaded.rejected.length > 0) {
      this.log.warn({ run: row.id }, `run ${row.id}: falling back to the previous good checkpoint ${loaded.file} (round ${ck.state.round}) after rejecting ${loaded.rejected.map((r) => r.file).join(', ')}`);
    }
    if (!ck) this.log.warn({ run: row.id }, `run ${row.id}: no usable checkpoint${loaded.rejected.length ? ' (all rejected)' : ''}; it restarts from its initial adapters at round 0`);

    const stored = new Map(this.store.clients(row.id).map((c) => [c.id, c]));
    const clients = [...stored.values()].map((c) => ({ ...c, ...(ck?.state.clients[c.id] ?? {}) }));
    const restore: RunRestore = {
      createdAt: row.createdAt,
      round: ck ? ck.state.nextRound : 0,
      globalStep: ck ? ck.state.globalStep : 0,
      average: ck ? ck.client : initLora(this.model.config, lora, 0, cut, settings.seed),
      paused: row.status === 'paused',
      clients,
      clientStates: ck?.clientStates,
    };
    const run = await this.build(settings, cut, { id: row.id, restore, checkpoint: ck ?? undefined });
    const recovery: RecoveryInfo = { checkpoint: loaded.file, round: restore.round, rejected: loaded.rejected, at: Date.now() };
    this.recovery.set(run.id, recovery);
    this.store.addMetrics(run.id, [{ kind: 'state', at: recovery.at, state: run.state, round: run.round, globalStep: run.globalStep, event: 'resumed', checkpoint: loaded.file, rejected: loaded.rejected }]);
    this.attach(run);
    this.log.info({ run: run.id, round: run.round, globalStep: run.globalStep, checkpoint: loaded.file }, `run ${run.id} resumed at round ${run.round}, global step ${run.globalStep}; waiting for volunteers to reconnect`);
    return run;
  }

  loraOf(s: RunSettings): LoraConfig {
    return { r: s.lora.r, alpha: s.lora.alpha, dropout: s.lora.dropout, targets: s.lora.targets as LoraConfig['targets'] };
  }

  /** Throws unless the checkpoint's tensors are exactly this run's adapter and optimizer shapes. */
  private checkShapes(d: CheckpointData, lora: LoraConfig, cut: number): void {
    const { config } = this.model;
    const same = (what: string, rec: TensorRecord, want: Record<string, number[]>, partial = false) => {
      for (const [k, shape] of Object.entries(want)) {
        if (!rec[k]) {
          if (partial) continue;
          throw new Error(`its ${what} lacks "${k}" (saved for other LoRA settings?)`);
        }
        if (rec[k].shape.join() !== shape.join()) throw new Error(`its ${what} "${k}" has shape [${rec[k].shape}], the run needs [${shape}]`);
      }
      for (const k of Object.keys(rec)) if (!(k in want)) throw new Error(`its ${what} has an unexpected tensor "${k}"`);
    };
    const serverShapes = loraShapes(config, lora, cut, config.nLayer);
    same('client adapter', d.client, loraShapes(config, lora, 0, cut));
    same('server adapter', d.server, serverShapes);
    same('optimizer m', d.optimizer.m, serverShapes, true);
    same('optimizer v', d.optimizer.v, serverShapes, true);
    const clientShapes = loraShapes(config, lora, 0, cut);
    for (const [id, cs] of Object.entries(d.clientStates)) {
      same(`client ${id}'s optimizer m`, cs.optimizer.m, clientShapes);
      same(`client ${id}'s optimizer v`, cs.optimizer.v, clientShapes);
    }
  }

  private async build(settings: RunSettings, cut: number, o: { id?: string; restore?: RunRestore; checkpoint?: CheckpointData }): Promise<Run> {
    const { config } = this.model;
    await this.files(cut, settings.labels === 'client');
    const totalServerSteps = settings.rounds * settings.interval * Math.max(1, settings.minClients);
    const ck = o.checkpoint;
    const spec: ServerPartSpec = {
      config, cut, lora: this.loraOf(settings), seed: settings.seed, lr: settings.serverLr, smoothing: settings.labelSmoothing,
      ...(settings.labels === 'client' ? { labels: 'client' as const } : {}),
      schedule: settings.serverSchedule === 'constant' ? { kind: 'constant' } : { kind: 'linear', warmup: Math.min(settings.serverWarmup, Math.floor(totalServerSteps / 10)), total: totalServerSteps },
      from: ck ? { adapter: ck.server, optimizer: ck.optimizer, stats: ck.state.engine } : undefined,
    };
    const key = `part-${randomBytes(4).toString('hex')}`;
    const engine = new ServerEngine(await WorkerServerCompute.open(this.compute, key, spec), { batching: settings.batching, maxGroup: 16 });
    if (ck) Object.assign(engine.stats, ck.state.engine);
    // The state a failed worker is rebuilt from, until the first aggregation replaces it.
    await engine.checkpoint();
    const run = new Run({ id: o.id, settings, modelId: this.model.id, config, cut, engine, restore: o.restore });
    this.parts.set(run.id, { key, spec });
    this.cluster?.built(run, spec);
    run.on('metric', (m) => {
      if (m.kind !== 'step' && m.kind !== 'throughput') this.log.info({ run: run.id, ...m }, `run ${m.kind}`);
    });
    return run;
  }

  /**
   * The training worker failed: hold the live runs, start a new worker, rebuild their server parts
   * at their restore points and restart their rounds. Three failures within a minute stop the
   * retries (health then stays "failed" and the runs stay paused, with a log line saying so).
   */
  private async recoverCompute(reason: string): Promise<void> {
    const live = [...this.runs.values()].filter((r) => r.active);
    for (const run of live) {
      run.holdForCompute(reason);
      run.opts.engine.failAll(reason);
    }
    this.log.error({ reason, runs: live.map((r) => r.id) }, `compute worker failed (${reason}); ${live.length ? `run ${live.map((r) => r.id).join(', ')} paused, ` : ''}restarting it from the last checkpoint`);
    const now = Date.now();
    this.failures = [...this.failures.filter((t) => now - t < 60_000), now];
    if (this.failures.length > 3) {
      this.log.error({ reason }, 'compute worker failed more than 3 times in a minute; not restarting it. Check the backend (--backend) and memory, then restart the server; the runs resume from their checkpoints');
      return;
    }
    try {
      await this.compute.start();
      for (const run of live) {
        const part = this.parts.get(run.id)!;
        const engine = run.opts.engine;
        const from = engine.restorePoint ?? undefined;
        await engine.rewind(await WorkerServerCompute.open(this.compute, part.key, { ...part.spec, from }));
        run.resumeAfterCompute();
        this.log.warn({ run: run.id, round: run.round, globalStep: run.globalStep }, `compute worker restarted (backend ${this.compute.health.backend}); run ${run.id} continues from its checkpoint at round ${run.round}`);
      }
    } catch (e) {
      this.log.error({ err: e }, `compute worker could not be restarted: ${(e as Error).message}`);
    }
  }

  /** Resolves when no compute recovery is under way (tests). */
  async computeSettled(): Promise<void> {
    while (this.recovering) await this.recovering;
  }

  /** The server adapter of a live run now, or at its restore point when the compute worker is down. */
  async serverAdapter(run: Run): Promise<TensorRecord> {
    const engine = run.opts.engine;
    try {
      return (await engine.snapshot()).adapter;
    } catch (e) {
      if (!engine.restorePoint) throw e;
      return engine.restorePoint.adapter;
    }
  }

  /** The server part's state now (checkpointing, tests). */
  serverSnapshot(run: Run): Promise<ServerSnapshot> {
    return run.opts.engine.snapshot();
  }

  private attach(run: Run): void {
    this.recorders.set(run.id, new RunRecorder(run, { store: this.store, checkpointDir: this.runDir(run.id), log: this.log }));
    this.runs.set(run.id, run);
    this.current = run;
    run.start();
    if (this.io) admitLobby(this.io);
    this.cluster?.attached(run);
  }

  // ---- what the API shows -------------------------------------------------------------------

  summary(run: Run): RunSummary {
    const losses = [...run.clients.values()].map((c) => c.lastLoss).filter((x): x is number => x !== null);
    return {
      id: run.id, name: run.settings.name, status: run.state, round: run.round, rounds: run.settings.rounds, step: run.globalStep,
      clients: run.connected().length, lastLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
      settings: run.settings as Record<string, unknown>, cut: run.opts.cut, modelId: run.opts.modelId, createdAt: run.createdAt, live: true,
      checkpoint: this.recorders.get(run.id)?.lastCheckpoint ?? null, recovery: this.recovery.get(run.id) ?? null,
    };
  }

  private storedSummary(r: RunRow): RunSummary {
    return {
      id: r.id, name: r.name, status: r.status as RunStatus, round: r.round, rounds: Number(r.settings.rounds ?? 0), step: r.globalStep, clients: 0, lastLoss: r.lastLoss,
      settings: r.settings, cut: r.cut, modelId: r.modelId, createdAt: r.createdAt, live: false, checkpoint: null, recovery: null,
    };
  }

  /** Every run in the store (newest first), live ones with their in-memory numbers. */
  list(): RunSummary[] {
    for (const rec of this.recorders.values()) rec.flush();
    return this.store.listRuns().map((r) => {
      const live = this.runs.get(r.id);
      return live ? this.summary(live) : this.storedSummary(r);
    });
  }

  detail(id: string): RunDetail {
    const live = this.runs.get(id);
    if (live) {
      return { ...this.summary(live), clientList: [...live.clients.values()].map(clientInfo) };
    }
    const row = this.store.getRun(id);
    if (!row) throw runNotFound(id);
    return { ...this.storedSummary(row), clientList: this.store.clients(id).map((c) => clientInfo({ ...c, connected: false })) };
  }

  /** Whether the run is known; writes its waiting metrics first, so reads that follow see them. */
  exists(id: string): boolean {
    this.recorders.get(id)?.flush();
    return this.runs.has(id) || this.store.getRun(id) !== null;
  }

  live(id: string): Run {
    const run = this.runs.get(id);
    if (run) return run;
    if (this.store.getRun(id)) throw conflict(`run ${id} is not live on this server (it ended, or was interrupted and not resumed); start a new run instead`);
    throw runNotFound(id);
  }

  /** Stops a run: the live one, or one the store still lists as going that this server did not resume. */
  stop(id: string): RunSummary {
    const run = this.runs.get(id);
    if (run) {
      run.stop();
      return this.summary(run);
    }
    const row = this.store.getRun(id);
    if (!row) throw runNotFound(id);
    if ((ACTIVE_STATUSES as readonly string[]).includes(row.status)) {
      this.store.updateRun(id, { status: 'stopped', round: row.round, globalStep: row.globalStep, lastLoss: row.lastLoss, at: Date.now() });
    }
    return this.storedSummary(this.store.getRun(id)!);
  }

  /**
   * The run's adapters as a PEFT tar: for a live run the current average and the server adapter
   * now; for a past run, its newest intact checkpoint.
   */
  async adapterArchive(id: string): Promise<{ bytes: Uint8Array; filename: string }> {
    const live = this.runs.get(id);
    const row = live ? null : this.store.getRun(id);
    if (!live && !row) throw runNotFound(id);
    const settings = live ? live.settings : parseSettings(row!.settings);
    const cut = live ? live.opts.cut : row!.cut;
    let client: TensorRecord;
    let server: TensorRecord;
    let round: number;
    if (live) {
      client = live.average;
      round = live.round;
      server = await this.serverAdapter(live);
    } else {
      const dir = this.runDir(id);
      const loaded = dir ? await loadLatestCheckpoint(dir, () => {}, { quarantine: false }) : null;
      if (!loaded?.checkpoint) throw notFound(`run ${id} has no intact checkpoint on this server, so there is no adapter to download`);
      ({ client, server } = loaded.checkpoint);
      round = loaded.checkpoint.state.nextRound;
    }
    const bytes = adapterArchive({ runId: id, round, cut, baseModel: live ? live.opts.modelId : row!.modelId, lora: this.loraOf(settings), client, server });
    return { bytes, filename: `${id}-round${round}-adapters.tar` };
  }

  /** Writes what is waiting, lets checkpoints finish, stops the compute worker and closes the store. */
  async close(): Promise<void> {
    for (const r of this.runs.values()) r.close();
    for (const rec of this.recorders.values()) await rec.close();
    await this.compute.close();
    this.store.close();
  }
}

function runNotFound(id: string) {
  return notFound(`no run "${id}"; GET /api/runs lists them`);
}

function clientInfo(c: ClientRow & { connected: boolean }): ClientInfo {
  return {
    id: c.id, connected: c.connected, backend: c.backend, userAgent: c.userAgent, examples: c.examples, steps: c.steps, tokens: c.tokens,
    tokensPerSec: c.tokensPerSec, bytesUp: c.bytesUp, bytesDown: c.bytesDown, lastLoss: c.lastLoss, firstSeen: c.firstSeen, lastSeen: c.lastSeen,
  };
}
