// Held-out evaluation of a run from the dashboard: the whole model (frozen base + the averaged
// client adapter on blocks [0, k) + the server adapter on [k, L)) scored on a data file, and
// optionally the five E2E metrics on the first MRs. Runs in the server process between steps.
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { encodeExamples, syntheticE2E, type TextExample } from '@splitlora/data';
import { readDataFile } from '@splitlora/data/node';
import { evaluateE2E, heldoutLoss } from '@splitlora/evaluation';
import type { EvaluationInfo } from '@splitlora/protocol';
import { FullModel, SPLITLORA_ADAMW, toWeights, type TensorRecord, type Weights } from '@splitlora/model';
import { loadLatestCheckpoint } from './checkpoint';
import { ApiError, type RunManager } from './run-manager';
import { parseSettings } from './settings';

export interface EvaluationRequest {
  /** A data file on the server (e2e, csv, jsonl or text); default: the run's evalData, else a built-in synthetic held-out set. */
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
  private fullWeights: Weights | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly manager: RunManager, private readonly log: FastifyBaseLogger) {}

  list(runId: string): EvaluationInfo[] {
    return this.byRun.get(runId) ?? [];
  }

  start(runId: string, req: EvaluationRequest): EvaluationInfo {
    if (!this.manager.exists(runId)) throw new ApiError(404, 'E_NOT_FOUND', `no run "${runId}"`);
    const live = this.manager.runs.get(runId);
    const settings = live ? live.settings : parseSettings(this.manager.store.getRun(runId)!.settings);
    const data = req.data ?? settings.evalData ?? `synthetic E2E-style held-out set (200 examples, seed ${HELDOUT_SEED})`;
    const ev: EvaluationInfo = { id: `eval-${randomBytes(3).toString('hex')}`, runId, status: 'queued', progress: 0, data, startedAt: Date.now() };
    this.byRun.set(runId, [...this.list(runId), ev]);
    // One at a time: each holds a whole model.
    this.queue = this.queue.then(() => this.run(ev, req, req.data ?? settings.evalData));
    return ev;
  }

  private async adapters(runId: string): Promise<{ client: TensorRecord; server: TensorRecord; round: number }> {
    const live = this.manager.runs.get(runId);
    if (live) {
      const engine = live.opts.engine;
      return { client: live.average, server: await engine.between(() => engine.model.adapter()), round: live.round };
    }
    const dir = this.manager.runDir(runId);
    const loaded = dir ? await loadLatestCheckpoint(dir, () => {}, { quarantine: false }) : null;
    if (!loaded?.checkpoint) throw new Error(`run ${runId} has no intact checkpoint to evaluate`);
    return { client: loaded.checkpoint.client, server: loaded.checkpoint.server, round: loaded.checkpoint.state.nextRound };
  }

  private async run(ev: EvaluationInfo, req: EvaluationRequest, file: string | undefined): Promise<void> {
    ev.status = 'running';
    let model: FullModel | null = null;
    try {
      const text: TextExample[] = file ? (await readDataFile(file, 'auto')).examples : syntheticE2E({ n: 200, seed: HELDOUT_SEED });
      const examples = text.slice(0, req.limit ?? text.length);
      const live = this.manager.runs.get(ev.runId);
      const settings = live ? live.settings : parseSettings(this.manager.store.getRun(ev.runId)!.settings);
      const { client, server, round } = await this.adapters(ev.runId);
      this.fullWeights ??= toWeights(this.manager.model.weights);
      model = new FullModel(this.manager.model.config, this.fullWeights, { lora: { ...this.manager.loraOf(settings), dropout: 0 }, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, adapter: { ...client, ...server } });
      const e2eMrs = req.e2eMrs ?? 0;
      const share = e2eMrs > 0 ? 0.5 : 1;
      const loss = await heldoutLoss(model, encodeExamples(examples), { batch: 8, onProgress: (done, total) => { ev.progress = (share * done) / total; } });
      const result: Record<string, number | string | null> = { round, examples: loss.examples, tokens: loss.tokens, meanNll: loss.meanNll, perplexity: loss.perplexity };
      if (e2eMrs > 0) {
        const e2e = await evaluateE2E(model, examples, { limit: e2eMrs, onProgress: (done: number, total: number) => { ev.progress = 0.5 + (0.5 * done) / total; } });
        Object.assign(result, e2e.metrics);
      }
      ev.result = result;
      ev.status = 'done';
      ev.progress = 1;
      const metric = { at: Date.now(), kind: 'eval', round, heldoutLoss: loss.meanNll, perplexity: loss.perplexity, evaluationId: ev.id, data: ev.data };
      if (live) live.emit('metric', metric);
      else this.manager.store.addMetrics(ev.runId, [metric]);
      this.log.info({ run: ev.runId, evaluation: ev.id, ...result }, 'evaluation done');
    } catch (e) {
      ev.status = 'failed';
      ev.error = (e as Error).message;
      this.log.warn({ run: ev.runId, evaluation: ev.id, err: ev.error }, 'evaluation failed');
    } finally {
      ev.finishedAt = Date.now();
      model?.dispose(); // its adapter and optimizer; the shared base weights stay
    }
  }
}
