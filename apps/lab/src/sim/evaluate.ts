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

/**
 * True when every lora_B is zero: the adapter adds exactly 0 to every projection, so the model is
 * the base model whatever lora_A holds (every method's step-0 checkpoint).
 */
export function isNoOpAdapter(adapter: TensorRecord): boolean {
  const bs = Object.entries(adapter).filter(([k]) => k.endsWith('.lora_B'));
  return bs.length > 0 && bs.every(([, t]) => t.data.every((x) => x === 0));
}

/** Held-out results that hold for every method on the same data, e.g. the base model's. */
export interface HeldoutMemo {
  base?: { meanNll: number; perplexity: number };
}

/**
 * Scores each checkpoint on the held-out examples with one evaluation model (adapters swapped in).
 * A no-op adapter's score (the base model's) is computed once per `memo` and shared.
 */
export async function heldoutCurve(model: SimModel, weights: Weights, s: TrainSettings, heldout: readonly EncodedExample[], checkpoints: readonly Checkpoint[], onPoint?: (done: number) => void, memo: HeldoutMemo = {}): Promise<CurvePoint[]> {
  if (heldout.length === 0) throw new Error('no held-out examples to score; raise --heldout or pass --eval-data');
  const m = evalModel(model, weights, s, checkpoints[0].adapter);
  const out: CurvePoint[] = [];
  try {
    for (const c of checkpoints) {
      const noOp = isNoOpAdapter(c.adapter);
      let r = noOp ? memo.base : undefined;
      if (!r) {
        m.loadAdapter(c.adapter);
        r = await heldoutLoss(m, heldout, { batch: Math.max(s.batch, 8) });
        if (noOp) memo.base = { meanNll: r.meanNll, perplexity: r.perplexity };
      }
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
  /** MRs decoded together (generateE2E's batchSize; default 16). */
  batchSize?: number;
  /** The examples whose MRs are decoded (default: the held-out set), e.g. the E2E test split. */
  test?: readonly TextExample[];
  onProgress?: (done: number, total: number) => void;
}

/** BLEU, NIST, METEOR, ROUGE-L and CIDEr of one adapter's outputs on the held-out MRs. */
export async function e2eMetrics(model: SimModel, weights: Weights, s: TrainSettings, adapter: TensorRecord, test: readonly TextExample[], o: E2EOptions): Promise<E2EScores> {
  const m = evalModel(model, weights, s, adapter);
  try {
    return (await evaluateE2E(m, test, { limit: o.mrs, beams: o.beams, batchSize: o.batchSize, onProgress: o.onProgress })).metrics;
  } finally {
    m.dispose();
  }
}
