// Held-out loss: the token-weighted mean NLL of every completion token (no label smoothing),
// i.e. Σ NLL / Σ tokens over the whole set, not a mean of per-batch means.
import { makeBatch, type EncodedExample } from '@splitlora/data';
import type { FullModel } from '@splitlora/model';

/** What the held-out loss needs of a model: the tfjs FullModel, or the torch engine's whole model. */
export type NllModel = Pick<FullModel, 'config' | 'nll'>;

export interface HeldoutOptions {
  /** Examples per forward pass (default 8). Each batch is trimmed to its longest sequence. */
  batch?: number;
  /** Called after each batch with the number of examples done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface HeldoutResult {
  examples: number;
  /** Completion tokens scored (the final EOS of each completion included, as in training). */
  tokens: number;
  meanNll: number;
  perplexity: number;
}

export async function heldoutLoss(model: NllModel, examples: readonly EncodedExample[], opts: HeldoutOptions = {}): Promise<HeldoutResult> {
  const { batch = 8, onProgress } = opts;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`heldoutLoss: batch must be an integer >= 1, got ${batch}`);
  let nll = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += batch) {
    // Sequences longer than the context keep their start, as in training.
    const r = await model.nll(makeBatch(examples.slice(i, i + batch), { maxLen: model.config.nPositions }));
    nll += r.nll;
    tokens += r.count;
    onProgress?.(Math.min(i + batch, examples.length), examples.length);
  }
  const meanNll = tokens > 0 ? nll / tokens : NaN;
  return { examples: examples.length, tokens, meanNll, perplexity: Math.exp(meanNll) };
}
