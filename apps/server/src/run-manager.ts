// The runs registry: the live run (at most one is current), the ones in the store, creating a
// run and resuming the one a crash interrupted. Its helpers each own one concern: the client
// download files (client-file-cache.ts), keeping server parts alive across compute failures
// (compute-supervisor.ts), checkpoint shape checks (checkpoint.ts) and the API's read views
// (run-views.ts).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { EventEmitter } from 'node:events';
import type { RecoveryInfo, RunDetail, RunSummary } from '@splitlora/protocol';
import { defaultCut, initLora, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';
import { adapterArchive } from './adapter-archive';
import { checkCheckpointShapes, loadLatestCheckpoint, type CheckpointData } from './checkpoint';
import { ClientFileCache } from './client-file-cache';
import { ComputeSupervisor } from './compute-supervisor';
import type { ServerPartSpec, ServerSnapshot } from './compute/server-compute';
import type { ComputeService } from './compute/service';
import { conflict, invalid, notFound } from './errors';
import { RunRecorder } from './persistence';
import { clientInfo, liveSummary, storedSummary } from './run-views';
import { Run, newRunId, type AggregationStage, type RunRestore } from './run';
import type { StepExecution } from './step-execution';
import { parseSettings, type RunSettings } from './settings';
import { ACTIVE_STATUSES, type Store } from './store';

export interface LoadedModel {
  id: string;
  config: GPT2Config;
  weights: TensorRecord;
}

/** What a cluster coordinator (cluster/coordinator.ts) adds to runs; absent on a single server. */
export interface ClusterHooks {
  /** How a run's steps execute in this process; undefined: here, on its own server part. */
  stepsFor(runId: string, settings: RunSettings): StepExecution | undefined;
  /** The after-aggregation stage that averages the nodes' server replicas into the run's server part. */
  averagingStage(run: Run, spec: ServerPartSpec): AggregationStage;
  /** A run became the current one. */
  attached(run: Run): void;
}

/** Emits 'attached' (run) when a run becomes the current one (the sockets admit their lobby). */
export class RunManager extends EventEmitter {
  /** Runs live in this process (the current one and earlier ones since the server started). */
  readonly runs = new Map<string, Run>();
  current: Run | null = null;
  readonly recorders = new Map<string, RunRecorder>();
  readonly recovery = new Map<string, RecoveryInfo>();
  /** The client part's download files, per cut. */
  readonly clientFiles: ClientFileCache;
  private readonly supervisor: ComputeSupervisor;
  private creating = false;

  constructor(
    /** Its weights sit on SharedArrayBuffers, read by the compute workers without a copy. */
    readonly model: LoadedModel,
    readonly limits: { maxBatch: number; maxSeqLen: number },
    private readonly log: FastifyBaseLogger,
    readonly store: Store,
    /** Checkpoints go under <dataDir>/runs/<id>; null keeps none. */
    readonly dataDir: string | null,
    /** The training worker: every run's server part and optimizer. */
    readonly compute: ComputeService,
    /** A cluster coordinator's part in each run; null on a single-process server. */
    private readonly cluster: ClusterHooks | null = null,
  ) {
    super();
    this.clientFiles = new ClientFileCache(model.config, model.weights);
    this.supervisor = new ComputeSupervisor(compute, log);
  }

  cutOf(s: RunSettings): number {
    const cut = s.cut || defaultCut(this.model.config);
    if (cut < 1 || cut >= this.model.config.nLayer) throw invalid(`run settings/cut: ${cut} must be between 1 and ${this.model.config.nLayer - 1}`);
    return cut;
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
    const loaded = await loadLatestCheckpoint(dir, (d) => checkCheckpointShapes(d, this.model.config, lora, cut));
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

  private async build(settings: RunSettings, cut: number, o: { id?: string; restore?: RunRestore; checkpoint?: CheckpointData }): Promise<Run> {
    const { config } = this.model;
    await this.clientFiles.get(cut, settings.labels === 'client');
    const totalServerSteps = settings.rounds * settings.interval * Math.max(1, settings.minClients);
    const ck = o.checkpoint;
    const spec: ServerPartSpec = {
      config, cut, lora: this.loraOf(settings), seed: settings.seed, lr: settings.serverLr, smoothing: settings.labelSmoothing,
      ...(settings.labels === 'client' ? { labels: 'client' as const } : {}),
      schedule: settings.serverSchedule === 'constant' ? { kind: 'constant' } : { kind: 'linear', warmup: Math.min(settings.serverWarmup, Math.floor(totalServerSteps / 10)), total: totalServerSteps },
      from: ck ? { adapter: ck.server, optimizer: ck.optimizer, stats: ck.state.engine } : undefined,
    };
    const key = `part-${randomBytes(4).toString('hex')}`;
    const engine = await this.supervisor.open(key, spec, { batching: settings.batching });
    if (ck) Object.assign(engine.stats, ck.state.engine);
    // The state a failed worker is rebuilt from, until the first aggregation replaces it.
    await engine.checkpoint();
    const id = o.id ?? newRunId();
    const run = new Run({ id, settings, modelId: this.model.id, config, cut, engine, steps: this.cluster?.stepsFor(id, settings), restore: o.restore });
    this.supervisor.track(run, key, spec);
    run.on('metric', (m) => {
      if (m.kind !== 'step' && m.kind !== 'throughput') this.log.info({ run: run.id, ...m }, `run ${m.kind}`);
    });
    return run;
  }

  /** The server adapter of a live run now, or at its restore point while the compute service is down. */
  serverAdapter(run: Run): Promise<TensorRecord> {
    return this.supervisor.serverAdapter(run);
  }

  /** The server part's state now (checkpointing, tests). */
  serverSnapshot(run: Run): Promise<ServerSnapshot> {
    return run.opts.engine.snapshot();
  }

  /** Resolves when no compute recovery is under way (tests). */
  computeSettled(): Promise<void> {
    return this.supervisor.settled();
  }

  private attach(run: Run): void {
    const recorder = new RunRecorder(run, { store: this.store, checkpointDir: this.runDir(run.id), log: this.log });
    this.recorders.set(run.id, recorder);
    // After each aggregation, in this order: the replicas' average enters the server part, the
    // checkpoint saves it, and then (the run's own last stage) the average goes out.
    const averaging = this.cluster ? [this.cluster.averagingStage(run, this.supervisor.specOf(run.id)!)] : [];
    run.setAfterAggregation([...averaging, recorder.checkpointStage]);
    this.runs.set(run.id, run);
    this.current = run;
    run.start();
    this.emit('attached', run);
    this.cluster?.attached(run);
  }

  // ---- what the API shows -------------------------------------------------------------------

  summary(run: Run): RunSummary {
    return liveSummary(run, this.recorders.get(run.id)?.lastCheckpoint ?? null, this.recovery.get(run.id) ?? null);
  }

  /** Every run in the store (newest first), live ones with their in-memory numbers. */
  list(): RunSummary[] {
    for (const rec of this.recorders.values()) rec.flush();
    return this.store.listRuns().map((r) => {
      const live = this.runs.get(r.id);
      return live ? this.summary(live) : storedSummary(r);
    });
  }

  detail(id: string): RunDetail {
    const live = this.runs.get(id);
    if (live) {
      return { ...this.summary(live), clientList: [...live.clients.values()].map(clientInfo) };
    }
    const row = this.store.getRun(id);
    if (!row) throw runNotFound(id);
    return { ...storedSummary(row), clientList: this.store.clients(id).map((c) => clientInfo({ ...c, connected: false })) };
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
    return storedSummary(this.store.getRun(id)!);
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
