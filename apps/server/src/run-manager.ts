// Runs: the live one (at most one is current), the ones in the store, and the resume of a run a
// crash interrupted. Model parts (server weights, client files) are built once per cut and shared.
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Server } from 'socket.io';
import type { ClientInfo, RecoveryInfo, RunDetail, RunStatus, RunSummary } from '@splitlora/protocol';
import {
  ServerModel, SPLITLORA_ADAMW, defaultCut, disposeWeights, initLora, linearSchedule, loraShapes, serverTensorNames, toWeights,
  type GPT2Config, type LoraConfig, type TensorRecord, type Weights,
} from '@splitlora/model';
import { adapterArchive } from './adapter-archive';
import { loadLatestCheckpoint, type CheckpointData } from './checkpoint';
import { ServerEngine } from './engine';
import { buildClientFiles, type ClientModelFiles } from './model-files';
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

/** An error the API answers with its status and code. */
export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
  }
}

export class RunManager {
  /** Runs live in this process (the current one and earlier ones since the server started). */
  readonly runs = new Map<string, Run>();
  current: Run | null = null;
  io: Server | null = null;
  readonly recorders = new Map<string, RunRecorder>();
  readonly recovery = new Map<string, RecoveryInfo>();
  private serverWeights = new Map<number, Weights>();
  private clientFiles = new Map<number, ClientModelFiles>();

  constructor(
    readonly model: LoadedModel,
    readonly limits: { maxBatch: number; maxSeqLen: number },
    private log: FastifyBaseLogger,
    readonly store: Store,
    /** Checkpoints go under <dataDir>/runs/<id>; null keeps none. */
    readonly dataDir: string | null = null,
  ) {}

  cutOf(s: RunSettings): number {
    const cut = s.cut || defaultCut(this.model.config);
    if (cut < 1 || cut >= this.model.config.nLayer) throw new ApiError(400, 'E_BAD_REQUEST', `run settings/cut: ${cut} must be between 1 and ${this.model.config.nLayer - 1}`);
    return cut;
  }

  files(cut: number): ClientModelFiles {
    let f = this.clientFiles.get(cut);
    if (!f) this.clientFiles.set(cut, (f = buildClientFiles(this.model.config, this.model.weights, cut)));
    return f;
  }

  filesByHash(hash: string): ClientModelFiles | undefined {
    return [...this.clientFiles.values()].find((f) => f.hash === hash);
  }

  runDir(id: string): string | null {
    return this.dataDir ? join(this.dataDir, 'runs', id) : null;
  }

  // ---- creating and resuming ----------------------------------------------------------------

  create(input: unknown): Run {
    if (this.current?.active) throw new ApiError(409, 'E_CONFLICT', `run ${this.current.id} is still ${this.current.state}; stop it first`);
    let settings: RunSettings;
    try {
      settings = parseSettings(input);
    } catch (e) {
      throw new ApiError(400, 'E_BAD_REQUEST', (e as Error).message);
    }
    const cut = this.cutOf(settings);
    const { config } = this.model;
    if (settings.batch > this.limits.maxBatch || settings.seqLen > Math.min(this.limits.maxSeqLen, config.nPositions)) {
      throw new ApiError(400, 'E_BAD_REQUEST', `run settings: batch ${settings.batch} × seqLen ${settings.seqLen} exceeds this server's limit ${this.limits.maxBatch} × ${Math.min(this.limits.maxSeqLen, config.nPositions)} (raise --max-batch/--max-seq-len)`);
    }
    const run = this.build(settings, cut, {});
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
    const run = this.build(settings, cut, { id: row.id, restore, checkpoint: ck ?? undefined });
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

  private build(settings: RunSettings, cut: number, o: { id?: string; restore?: RunRestore; checkpoint?: CheckpointData }): Run {
    const { config } = this.model;
    let weights = this.serverWeights.get(cut);
    if (!weights) {
      weights = toWeights(Object.fromEntries(serverTensorNames(config, cut).map((n) => [n, this.model.weights[n]])));
      this.serverWeights.set(cut, weights);
    }
    this.files(cut);
    const totalServerSteps = settings.rounds * settings.interval * Math.max(1, settings.minClients);
    const serverModel = new ServerModel(config, weights, cut, {
      lora: this.loraOf(settings),
      seed: settings.seed,
      adapter: o.checkpoint?.server,
      optimizer: { lr: settings.serverLr, ...SPLITLORA_ADAMW, schedule: settings.serverSchedule === 'constant' ? undefined : linearSchedule(Math.min(settings.serverWarmup, Math.floor(totalServerSteps / 10)), totalServerSteps) },
    });
    // The optimizer's step count also drives the lr schedule, so it continues where it was.
    if (o.checkpoint) serverModel.optimizer.importState(o.checkpoint.optimizer);
    const engine = new ServerEngine(serverModel, { batching: settings.batching, maxGroup: 16, smoothing: settings.labelSmoothing, seed: settings.seed });
    if (o.checkpoint) Object.assign(engine.stats, o.checkpoint.state.engine);
    const run = new Run({ id: o.id, settings, modelId: this.model.id, config, cut, engine, restore: o.restore });
    run.on('metric', (m) => {
      if (m.kind !== 'step' && m.kind !== 'throughput') this.log.info({ run: run.id, ...m }, `run ${m.kind}`);
    });
    return run;
  }

  private attach(run: Run): void {
    this.recorders.set(run.id, new RunRecorder(run, { store: this.store, checkpointDir: this.runDir(run.id), log: this.log }));
    this.runs.set(run.id, run);
    this.current = run;
    run.start();
    if (this.io) admitLobby(this.io);
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
    if (!row) throw notFound(id);
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
    if (this.store.getRun(id)) throw new ApiError(409, 'E_CONFLICT', `run ${id} is not live on this server (it ended, or was interrupted and not resumed); start a new run instead`);
    throw notFound(id);
  }

  /** Stops a run: the live one, or one the store still lists as going that this server did not resume. */
  stop(id: string): RunSummary {
    const run = this.runs.get(id);
    if (run) {
      run.stop();
      return this.summary(run);
    }
    const row = this.store.getRun(id);
    if (!row) throw notFound(id);
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
    if (!live && !row) throw notFound(id);
    const settings = live ? live.settings : parseSettings(row!.settings);
    const cut = live ? live.opts.cut : row!.cut;
    let client: TensorRecord;
    let server: TensorRecord;
    let round: number;
    if (live) {
      const engine = live.opts.engine;
      client = live.average;
      round = live.round;
      server = await engine.between(() => engine.model.adapter());
    } else {
      const dir = this.runDir(id);
      const loaded = dir ? await loadLatestCheckpoint(dir, () => {}, { quarantine: false }) : null;
      if (!loaded?.checkpoint) throw new ApiError(404, 'E_NOT_FOUND', `run ${id} has no intact checkpoint on this server, so there is no adapter to download`);
      ({ client, server } = loaded.checkpoint);
      round = loaded.checkpoint.state.nextRound;
    }
    const bytes = adapterArchive({ runId: id, round, cut, baseModel: live ? live.opts.modelId : row!.modelId, lora: this.loraOf(settings), client, server });
    return { bytes, filename: `${id}-round${round}-adapters.tar` };
  }

  /** Writes what is waiting, lets checkpoints finish, frees the models and closes the store. */
  async close(): Promise<void> {
    for (const r of this.runs.values()) r.close();
    for (const rec of this.recorders.values()) await rec.close();
    for (const r of this.runs.values()) r.opts.engine.model.dispose();
    for (const w of this.serverWeights.values()) disposeWeights(w);
    this.serverWeights.clear();
    this.store.close();
  }
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'E_NOT_FOUND', `no run "${id}"; GET /api/runs lists them`);
}

function clientInfo(c: ClientRow & { connected: boolean }): ClientInfo {
  return {
    id: c.id, connected: c.connected, backend: c.backend, userAgent: c.userAgent, examples: c.examples, steps: c.steps, tokens: c.tokens,
    tokensPerSec: c.tokensPerSec, bytesUp: c.bytesUp, bytesDown: c.bytesDown, lastLoss: c.lastLoss, firstSeen: c.firstSeen, lastSeen: c.lastSeen,
  };
}
