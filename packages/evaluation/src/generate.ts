// One E2E output per MR, decoded the way SplitLoRA/LoRA evaluate (gpt2_beam.py + gpt2_decode.py):
// prompt = BPE(MR) + [EOS] (the training context), beam search with E2E_BEAM, then postprocessE2E.
import { EOS, encodeText } from '@splitlora/data';
import { DECODE_BATCH, E2E_BEAM, beamSearchBatch, type FullModel } from '@splitlora/model';
import { postprocessE2E } from './postprocess';

export interface GenerateE2EOptions {
  /** Beam width (default 10). 1 is greedy decoding, with the n-gram block as LoRA's --beam 1. */
  beams?: number;
  lengthPenalty?: number;
  noRepeatNgram?: number;
  maxNewTokens?: number;
  stopTokens?: number[];
  /** MRs decoded together, MRs of equal token length only (default 16); the outputs do not depend on it. */
  batchSize?: number;
  /** Called after each batch of MRs with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** The prompt SplitLoRA feeds at evaluation: the MR's context encoding, ending in <|endoftext|>. */
export function e2ePrompt(mr: string): number[] {
  return [...encodeText(mr), EOS];
}

/** Decodes every MR (batches of equal-length prompts, see beamSearchBatch); returns one post-processed output per MR, in order. */
export async function generateE2E(model: FullModel, mrs: readonly string[], opts: GenerateE2EOptions = {}): Promise<string[]> {
  const { onProgress, batchSize = DECODE_BATCH, ...rest } = opts;
  const o = { ...E2E_BEAM, ...withoutUndefined(rest) };
  if (!Number.isInteger(o.beams) || o.beams < 1) throw new Error(`generateE2E: beams must be an integer >= 1, got ${o.beams}`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new Error(`generateE2E: maxNewTokens must be an integer >= 1, got ${o.maxNewTokens}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`generateE2E: batchSize must be an integer >= 1, got ${batchSize}`);
  const prompts = mrs.map((mr, i) => {
    const prompt = e2ePrompt(mr);
    if (prompt.length >= model.config.nPositions) {
      throw new Error(`MR ${i} is ${prompt.length} tokens, which leaves no room in the model's ${model.config.nPositions}-token context: shorten the MR or use a model with a longer context`);
    }
    return prompt;
  });
  // Greedy (one beam, no n-gram block) is the same search with one beam; it batches the same way.
  const tokens = await beamSearchBatch(model, prompts, { ...o, batchSize, onProgress });
  return tokens.map((t) => postprocessE2E(t));
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
