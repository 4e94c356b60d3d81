// One evaluation of a run's adapters: held-out loss on a data file (or the synthetic held-out set)
// and, with e2eMrs > 0, beam-search decoding and the five E2E metrics. Runs inside an evaluation
// worker, which has its own backend memory, so a failing evaluation cannot take training with it.
// With job.torch the held-out NLL runs on a torch engine child of this worker (its own process,
// not the training one); beam search stays on tfjs, whose decoder is the one checked against the
// official E2E scorer.
import { encodeExamples, syntheticE2E, type TextExample } from '@splitlora/data';
import { readDataFile } from '@splitlora/data/node';
import { evaluateE2E, heldoutLoss, type NllModel } from '@splitlora/evaluation';
import { FullModel, SPLITLORA_ADAMW, type GPT2Config, type TensorRecord, type TokenBatch, type Weights } from '@splitlora/model';
import type { EvaluationJob, EvaluationOutput } from './messages';
import { TorchCompute } from './torch-compute';

/** The whole model with the job's adapter on a fresh torch engine; close() ends its process. */
async function torchNllModel(config: GPT2Config, host: TensorRecord, job: EvaluationJob): Promise<NllModel & { close: () => Promise<void> }> {
  const engine = new TorchCompute({ ...job.torch!, config, weights: host });
  await engine.start();
  await engine.request({ op: 'open-full', key: 'evaluation', config, lora: { ...job.lora, dropout: 0 }, adapter: job.adapter });
  return {
    config,
    nll: (b: TokenBatch) => engine.request<{ nll: number; count: number }>({ op: 'nll', key: 'evaluation', batch: { ids: b.ids, targets: b.targets, mask: b.mask, batch: b.batch, seqLen: b.seqLen } }),
    close: () => engine.close(),
  };
}

export async function runEvaluationJob(config: GPT2Config, weights: Weights, job: EvaluationJob, onProgress: (done: number, total: number) => void, host?: TensorRecord): Promise<EvaluationOutput> {
  const text: TextExample[] = job.file ? (await readDataFile(job.file, 'auto')).examples : syntheticE2E({ n: 200, seed: job.syntheticSeed });
  const examples = text.slice(0, job.limit ?? text.length);
  const model = new FullModel(config, weights, { lora: { ...job.lora, dropout: 0 }, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, adapter: job.adapter });
  try {
    // Progress in thousandths: the held-out loss is the first half when metrics follow.
    const share = job.e2eMrs > 0 ? 0.5 : 1;
    if (job.torch && !host) throw new Error('evaluation: the torch engine needs the host weights');
    const nllModel = job.torch ? await torchNllModel(config, host!, job) : null;
    const loss = await heldoutLoss(nllModel ?? model, encodeExamples(examples), { batch: 8, onProgress: (done, total) => onProgress(Math.round(1000 * share * (done / total)), 1000) }).finally(() => nllModel?.close());
    const result: EvaluationOutput = { examples: loss.examples, tokens: loss.tokens, meanNll: loss.meanNll, perplexity: loss.perplexity, nllEngine: job.torch ? 'torch' : 'tfjs' };
    if (job.e2eMrs > 0) {
      const e2e = await evaluateE2E(model, examples, { limit: job.e2eMrs, onProgress: (done: number, total: number) => onProgress(Math.round(1000 * (0.5 + (0.5 * done) / total)), 1000) });
      Object.assign(result, e2e.metrics);
    }
    return result;
  } finally {
    model.dispose(); // its adapter and optimizer; the worker keeps the base weights
  }
}
