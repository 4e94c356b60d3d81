// One E2E output per MR, decoded the way SplitLoRA/LoRA evaluate (gpt2_beam.py + gpt2_decode.py):
// prompt = BPE(MR) + [EOS] (the training context), beam search with E2E_BEAM, then postprocessE2E.
import { EOS, encodeText } from '@splitlora/data';
import { E2E_BEAM, beamSearch, greedyDecode, type FullModel } from '@splitlora/model';
import { postprocessE2E } from './postprocess';

export interface GenerateE2EOptions {
  /** Beam width (default 10). 1 is greedy decoding, with the n-gram block as LoRA's --beam 1. */
  beams?: number;
  lengthPenalty?: number;
  noRepeatNgram?: number;
  maxNewTokens?: number;
  stopTokens?: number[];
  /** Called after each MR with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** The prompt SplitLoRA feeds at evaluation: the MR's context encoding, ending in <|endoftext|>. */
export function e2ePrompt(mr: string): number[] {
  return [...encodeText(mr), EOS];
}

/** Decodes each MR in turn; returns one post-processed output per MR, in order. */
export async function generateE2E(model: FullModel, mrs: readonly string[], opts: GenerateE2EOptions = {}): Promise<string[]> {
  const { onProgress, ...rest } = opts;
  const o = { ...E2E_BEAM, ...withoutUndefined(rest) };
  if (!Number.isInteger(o.beams) || o.beams < 1) throw new Error(`generateE2E: beams must be an integer >= 1, got ${o.beams}`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new Error(`generateE2E: maxNewTokens must be an integer >= 1, got ${o.maxNewTokens}`);
  const out: string[] = [];
  for (const [i, mr] of mrs.entries()) {
    const prompt = e2ePrompt(mr);
    if (prompt.length >= model.config.nPositions) {
      throw new Error(`MR ${i} is ${prompt.length} tokens, which leaves no room in the model's ${model.config.nPositions}-token context: shorten the MR or use a model with a longer context`);
    }
    // Greedy is beam search with one beam when no n-gram is blocked; it skips the beam bookkeeping.
    const tokens =
      o.beams === 1 && o.noRepeatNgram <= 0
        ? await greedyDecode(model, prompt, { maxNewTokens: o.maxNewTokens, stopTokens: o.stopTokens })
        : await beamSearch(model, prompt, o);
    out.push(postprocessE2E(tokens));
    onProgress?.(i + 1, mrs.length);
  }
  return out;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
