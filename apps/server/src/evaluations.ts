// Held-out evaluation of a run from the dashboard: the whole model (frozen base + the averaged
// client adapter on blocks [0, k) + the server adapter on [k, L)) scored on a data file, and
// optionally the five E2E metrics on the first MRs. Each evaluation runs in a worker of its own
// (compute/evaluate-job.ts), with its own backend memory, started for it and ended after it: it
// neither blocks the sockets nor can take the training worker down if it fails.
import type { ResolvedEngine } from './compute/engines';
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { EvaluationInfo } from '@splitlora/protocol';
import type { TensorRecord } from '@splitlora/model';
import { loadLatestCheckpoint } from './checkpoint';
import { ComputeWorker } from './compute/compute-worker';
import type { EvaluationOutput } from './compute/messages';
import type { DataRoot } from './data-root';
import { noDataRoot } from './data-root';
import { notFound } from './errors';
import type { RunManager } from './run-manager';
import { parseSettings } from './settings';

export interface EvaluationRequest {
  /** A data file inside the server's data root (e2e, csv, jsonl or text); default: the run's evalData, else a built-in synthetic held-out set. */
  data?: string;
  /** At most this many examples. */
  limit?: number;
  /** Also decode with beam search and compute BLEU/NIST/METEOR/ROUGE-L/CIDEr on the first `e2eMrs` MRs. */
  e2eMrs?: number;
}

/** The synthetic held-out set: another seed than any shard the volunteer page makes by default. */
const HELDOUT_SEED = 987_654;

export class Evaluations {
  private readonly byRun = new Map<string, EvaluationInfo[]>();
  private queue: Promise<void> = Promise.resolve();
  /** The worker of the evaluation under way (tests reach it to break it). */
  worker: ComputeWorker | null = null;

  constructor(
    private readonly manager: RunManager,
    private readonly log: FastifyBaseLogger,
    private readonly compute: { backend: string; allowFaults?: boolean; engine?: ResolvedEngine },
    /** Where data files may be read from; null: none (only the synthetic held-out set). */
    private readonly dataRoot: DataRoot | null,
  ) {}

  /** The real path of a data file the operator named; throws a domain error outside the data root. */
  dataPath(requested: string): string {
    return this.dataRoot ? this.dataRoot.resolve(requested) : noDataRoot(requested);
  }

  list(runId: string): EvaluationInfo[] {
    return this.byRun.get(runId) ?? [];
  }

  start(runId: string, req: EvaluationRequest): EvaluationInfo {
    if (!this.manager.exists(runId)) throw notFound(`no run "${runId}"`);
    const live = this.manager.runs.get(runId);
    const settings = live ? live.settings : parseSettings(this.manager.store.getRun(runId)!.settings);
    const requested = req.data ?? settings.evalData;
    // Checked now, so a bad path is the request's 400, not a failed evaluation later.
    const file = requested === undefined ? undefined : this.dataPath(requested);
    const data = requested ?? `synthetic E2E-style held-out set (200 examples, seed ${HELDOUT_SEED})`;
    const ev: EvaluationInfo = { id: `eval-${randomBytes(3).toString('hex')}`, runId, status: 'queued', progress: 0, data, startedAt: Date.now() };
    this.byRun.set(runId, [...this.list(runId), ev]);
    // One at a time: each holds a whole model.
    this.queue = this.queue.then(() => this.run(ev, req, file));
    return ev;
  }

  private async adapters(runId: string): Promise<{ client: TensorRecord; server: TensorRecord; round: number }> {
    const live = this.manager.runs.get(runId);
    if (live) return { client: live.average, server: await this.manager.serverAdapter(live), round: live.round };
    const dir = this.manager.runDir(runId);
    const loaded = dir ? await loadLatestCheckpoint(dir, () => {}, { quarantine: false }) : null;
    if (!loaded?.checkpoint) throw new Error(`run ${runId} has no intact checkpoint to evaluate`);
    return { client: loaded.checkpoint.client, server: loaded.checkpoint.server, round: loaded.checkpoint.state.nextRound };
  }

  private async run(ev: EvaluationInfo, req: EvaluationRequest, file: string | undefined): Promise<void> {
    ev.status = 'running';
    const { config, weights } = this.manager.model;
    const worker = new ComputeWorker({ role: 'evaluate', backend: this.compute.backend, config, weights, allowFaults: this.compute.allowFaults });
    this.worker = worker;
    try {
      const live = this.manager.runs.get(ev.runId);
      const settings = live ? live.settings : parseSettings(this.manager.store.getRun(ev.runId)!.settings);
      const { client, server, round } = await this.adapters(ev.runId);
      await worker.start();
      const torch = this.compute.engine?.engine === 'torch' ? { python: this.compute.engine.python, device: this.compute.engine.device, threads: this.compute.engine.threads } : undefined;
      const job = { file, syntheticSeed: HELDOUT_SEED, limit: req.limit, e2eMrs: req.e2eMrs ?? 0, lora: this.manager.loraOf(settings), adapter: { ...client, ...server }, ...(torch ? { torch } : {}) };
      const out = await worker.request<EvaluationOutput>({ op: 'evaluate', job }, { onProgress: (done, total) => { ev.progress = done / total; } });
      const result = { round, ...out };
      ev.result = result;
      ev.status = 'done';
      ev.progress = 1;
      const metric = { at: Date.now(), kind: 'eval', round, heldoutLoss: Number(out.meanNll), perplexity: Number(out.perplexity), evaluationId: ev.id, data: ev.data };
      if (live) live.emit('metric', metric);
      else this.manager.store.addMetrics(ev.runId, [metric]);
      this.log.info({ run: ev.runId, evaluation: ev.id, ...result }, 'evaluation done');
    } catch (e) {
      ev.status = 'failed';
      ev.error = (e as Error).message;
      this.log.warn({ run: ev.runId, evaluation: ev.id, err: ev.error }, 'evaluation failed; training is not affected');
    } finally {
      ev.finishedAt = Date.now();
      this.worker = null;
      await worker.close();
    }
  }
}
