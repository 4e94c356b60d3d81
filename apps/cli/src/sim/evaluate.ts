// Held-out evaluation of adapter snapshots: the mean completion-token NLL without label smoothing
// (packages/evaluation's heldoutLoss, the same measure as `splitlora score`) and its perplexity,
// and optionally the five E2E metrics of the final adapter (beam-search outputs per unique MR).
import type { EncodedExample, TextExample } from '@splitlora/data';
import { evaluateE2E, heldoutLoss } from '@splitlora/evaluation';
import type { E2EScores } from '@splitlora/metrics';
import { FullModel, SPLITLORA_ADAMW, type TensorRecord, type Weights } from '@splitlora/model';
import type { Checkpoint, SimModel, TrainSettings } from './types';

export interface CurvePoint {
  globalStep: number;
  round: number;
  wallSeconds: number;
  heldoutLoss: number;
  perplexity: number;
}

function evalModel(model: SimModel, weights: Weights, s: TrainSettings, adapter: TensorRecord): FullModel {
  return new FullModel(model.config, weights, { lora: s.lora, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, adapter });
}

/** Scores each checkpoint on the held-out examples with one evaluation model (adapters swapped in). */
export async function heldoutCurve(model: SimModel, weights: Weights, s: TrainSettings, heldout: readonly EncodedExample[], checkpoints: readonly Checkpoint[], onPoint?: (done: number) => void): Promise<CurvePoint[]> {
  if (heldout.length === 0) throw new Error('no held-out examples to score; raise --heldout or pass --eval-data');
  const m = evalModel(model, weights, s, checkpoints[0].adapter);
  const out: CurvePoint[] = [];
  try {
    for (const c of checkpoints) {
      m.loadAdapter(c.adapter);
      const r = await heldoutLoss(m, heldout, { batch: Math.max(s.batch, 8) });
      out.push({ globalStep: c.globalStep, round: c.round, wallSeconds: c.wallMs / 1000, heldoutLoss: r.meanNll, perplexity: r.perplexity });
      onPoint?.(out.length);
    }
  } finally {
    m.dispose();
  }
  return out;
}

export interface E2EOptions {
  /** Unique MRs to decode (each scored against all its references). */
  mrs: number;
  beams: number;
  onProgress?: (done: number, total: number) => void;
}

/** BLEU, NIST, METEOR, ROUGE-L and CIDEr of one adapter's outputs on the held-out MRs. */
export async function e2eMetrics(model: SimModel, weights: Weights, s: TrainSettings, adapter: TensorRecord, test: readonly TextExample[], o: E2EOptions): Promise<E2EScores> {
  const m = evalModel(model, weights, s, adapter);
  try {
    return (await evaluateE2E(m, test, { limit: o.mrs, beams: o.beams, onProgress: o.onProgress })).metrics;
  } finally {
    m.dispose();
  }
}
