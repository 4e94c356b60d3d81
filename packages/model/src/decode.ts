// Decoding with a KV cache: greedy, and beam search with SplitLoRA/LoRA's evaluation settings
// (microsoft/LoRA gpt2_beam.py): beams 10, length penalty 0.8, no-repeat 4-grams over the generated
// tokens, at most 64 new tokens, stop on 50256 or 628 ("\n\n"). A finished hypothesis scores
// Σ log p / (generated length)^lengthPenalty; the best finished one wins.
import * as tf from '@tensorflow/tfjs';
import type { LayerCache } from './gpt2';
import type { FullModel } from './split';

export interface DecodeOptions {
  maxNewTokens?: number;
  stopTokens?: number[];
  /** Off only for testing that the cache changes nothing. */
  useCache?: boolean;
}

export interface BeamOptions extends DecodeOptions {
  beams?: number;
  lengthPenalty?: number;
  noRepeatNgram?: number;
}

export const E2E_BEAM: Required<Omit<BeamOptions, 'useCache'>> = { beams: 10, lengthPenalty: 0.8, noRepeatNgram: 4, maxNewTokens: 64, stopTokens: [50256, 628] };

/** A row's best next tokens, best first, with their log-probabilities. */
interface RowTop {
  tokens: Int32Array;
  logProbs: Float32Array;
}

/**
 * The `k` most likely next tokens of each row (last position). Ranked on the device: only k ids
 * and scores per row come back, not the [rows, V] table (2 MB a step at V = 50257 and 10 beams,
 * which the JS scan over it used to dominate beam search). log p = logit − logsumexp(logits).
 */
async function nextTopTokens(model: FullModel, seqs: number[][], cache: LayerCache[] | null, pastLen: number, k: number): Promise<RowTop[]> {
  const rows = seqs.length;
  const fresh = cache ? seqs.map((s) => s.slice(pastLen)) : seqs;
  const T = fresh[0].length;
  const ids = Int32Array.from(fresh.flat());
  const [values, indices] = tf.tidy(() => {
    const lastPositions = Int32Array.from({ length: rows }, (_, r) => r * T + T - 1);
    const logits = model.logits(ids, rows, T, cache ?? undefined, cache ? pastLen : 0, lastPositions); // [rows, V]
    const top = tf.topk(logits, Math.min(k, logits.shape[1]), true);
    return [tf.sub(top.values, tf.logSumExp(logits, 1, true)), top.indices];
  });
  const [lp, tok] = (await Promise.all([values.data(), indices.data()])) as [Float32Array, Int32Array];
  tf.dispose([values, indices]);
  const kk = lp.length / rows;
  return Array.from({ length: rows }, (_, r) => ({ tokens: tok.subarray(r * kk, (r + 1) * kk), logProbs: lp.subarray(r * kk, (r + 1) * kk) }));
}

function disposeCache(cache: LayerCache[] | null): void {
  if (cache) for (const c of cache) tf.dispose([c.k, c.v]);
}

/** Keeps cache rows `rows` (beam reordering): [B, H, P, hd] gathered on axis 0. */
function reorderCache(cache: LayerCache[], rows: number[]): void {
  const idx = tf.tensor1d(rows, 'int32');
  for (const c of cache) {
    const k = tf.gather(c.k, idx);
    const v = tf.gather(c.v, idx);
    tf.dispose([c.k, c.v]);
    c.k = k as tf.Tensor4D;
    c.v = v as tf.Tensor4D;
  }
  idx.dispose();
}

/** Greedy decoding. Returns the new tokens, including a stop token if one was produced. */
export async function greedyDecode(model: FullModel, prompt: number[], opts: DecodeOptions = {}): Promise<number[]> {
  const { maxNewTokens = 64, stopTokens = [50256], useCache = true } = opts;
  const seq = [...prompt];
  const cache = useCache ? model.emptyCache(1) : null;
  let past = 0;
  try {
    for (let n = 0; n < maxNewTokens && seq.length < model.config.nPositions; n++) {
      const [top] = await nextTopTokens(model, [seq], cache, past, 1);
      past = seq.length;
      const best = top.tokens[0];
      seq.push(best);
      if (stopTokens.includes(best)) break;
    }
  } finally {
    disposeCache(cache);
  }
  return seq.slice(prompt.length);
}

/** Tokens that would repeat an n-gram already present in `gen`. */
function bannedTokens(gen: number[], n: number): Set<number> {
  const banned = new Set<number>();
  if (n <= 0 || gen.length < n - 1) return banned;
  const prefix = gen.slice(gen.length - (n - 1)).join(',');
  for (let i = 0; i + n <= gen.length; i++) {
    if (gen.slice(i, i + n - 1).join(',') === prefix) banned.add(gen[i + n - 1]);
  }
  return banned;
}

/** The first k of a row's ranked tokens that are finite and not banned. */
function allowedTop(top: RowTop, k: number, banned: Set<number>): number[] {
  const keep: number[] = [];
  for (let i = 0; i < top.tokens.length && keep.length < k; i++) {
    if (!banned.has(top.tokens[i]) && top.logProbs[i] > -Infinity) keep.push(i);
  }
  return keep;
}

/** Beam search; returns the new tokens of the best hypothesis (stop token included if reached). */
export async function beamSearch(model: FullModel, prompt: number[], opts: BeamOptions = {}): Promise<number[]> {
  const o = { ...E2E_BEAM, useCache: true, ...opts };
  let beams: { gen: number[]; score: number }[] = [{ gen: [], score: 0 }];
  let best: { gen: number[]; score: number } | null = null;
  const cache = o.useCache ? model.emptyCache(1) : null;
  let past = 0;
  try {
    for (let step = 0; step < o.maxNewTokens && beams.length > 0 && prompt.length + step < model.config.nPositions; step++) {
      const seqs = beams.map((b) => [...prompt, ...b.gen]);
      const banned = beams.map((b) => bannedTokens(b.gen, o.noRepeatNgram));
      // Only a beam's own top-k allowed tokens can make the global top-k; rank enough on the
      // device that k remain after the banned ones are skipped.
      const tops = await nextTopTokens(model, seqs, cache, past, o.beams + Math.max(...banned.map((b) => b.size)));
      past = seqs[0].length;
      const cands: { from: number; token: number; score: number }[] = [];
      tops.forEach((top, b) => {
        for (const i of allowedTop(top, o.beams, banned[b])) cands.push({ from: b, token: top.tokens[i], score: beams[b].score + top.logProbs[i] });
      });
      cands.sort((a, b) => b.score - a.score);
      const next: typeof beams = [];
      const rows: number[] = [];
      for (const c of cands.slice(0, o.beams)) {
        const gen = [...beams[c.from].gen, c.token];
        if (o.stopTokens.includes(c.token)) {
          const norm = c.score / gen.length ** o.lengthPenalty;
          if (!best || norm > best.score) best = { gen, score: norm };
        } else {
          next.push({ gen, score: c.score });
          rows.push(c.from);
        }
      }
      beams = next;
      if (cache && rows.length > 0) reorderCache(cache, rows);
    }
  } finally {
    disposeCache(cache);
  }
  // No hypothesis finished: take the best unfinished one, scored the same way.
  for (const b of beams) {
    const norm = b.score / b.gen.length ** o.lengthPenalty;
    if (!best || norm > best.score) best = { gen: b.gen, score: norm };
  }
  return best ? best.gen : [];
}
