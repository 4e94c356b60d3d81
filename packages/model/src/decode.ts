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
  /**
   * Stop a prompt once no live beam can beat its best finished hypothesis (see `settled`); the
   * output is the same either way. Off only for testing that.
   */
  earlyStop?: boolean;
}

export const E2E_BEAM: Required<Omit<BeamOptions, 'useCache' | 'earlyStop'>> = { beams: 10, lengthPenalty: 0.8, noRepeatNgram: 4, maxNewTokens: 64, stopTokens: [50256, 628] };

/** A row's best next tokens, best first, with their log-probabilities. */
interface RowTop {
  tokens: Int32Array;
  logProbs: Float32Array;
}

/**
 * The `k` most likely next tokens of each row (last position). Ranked on the device: only k ids
 * and scores per row come back, not the [rows, V] table (2 MB a step at V = 50257 and 10 beams,
 * which the JS scan over it used to dominate beam search). The ranking is a total order (logit
 * descending, then token id ascending), so a larger k only appends: rows that need fewer can share
 * one call. log p = logit − logsumexp, with logsumexp = max − log(softmax at the max): the backend's
 * softmax kernel (XNNPACK's vectorised exp on wasm) is ≈5× faster than tf.logSumExp's op chain,
 * whose scalar exp over [rows, V] was half of each decoding step.
 */
async function nextTopTokens(model: FullModel, seqs: number[][], cache: LayerCache[] | null, pastLen: number, k: number): Promise<RowTop[]> {
  const rows = seqs.length;
  const fresh = cache ? seqs.map((s) => s.slice(pastLen)) : seqs;
  const T = fresh[0].length;
  const ids = Int32Array.from(fresh.flat());
  const [values, indices] = tf.tidy(() => {
    const lastPositions = Int32Array.from({ length: rows }, (_, r) => r * T + T - 1);
    const logits = model.logits(ids, rows, T, cache ?? undefined, cache ? pastLen : 0, lastPositions); // [rows, V]
    const V = logits.shape[1];
    const top = tf.topk(logits, Math.min(k, V), true);
    // p of each row's best token, read from the softmax at its flat index (cheaper than a Max over [rows, V]).
    const bestAt = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(V, 'int32')), tf.reshape(tf.slice(top.indices, [0, 0], [rows, 1]), [rows]));
    const pBest = tf.reshape(tf.gather(tf.reshape(tf.softmax(logits), [rows * V]), bestAt), [rows, 1]);
    const logSumExp = tf.sub(tf.slice(top.values, [0, 0], [rows, 1]), tf.log(pBest));
    return [tf.sub(top.values, logSumExp), top.indices];
  });
  const [lp, tok] = (await Promise.all([values.data(), indices.data()])) as [Float32Array, Int32Array];
  tf.dispose([values, indices]);
  const kk = lp.length / rows;
  return Array.from({ length: rows }, (_, r) => ({ tokens: tok.subarray(r * kk, (r + 1) * kk), logProbs: lp.subarray(r * kk, (r + 1) * kk) }));
}

function disposeCache(cache: LayerCache[] | null): void {
  if (cache) for (const c of cache) tf.dispose([c.k, c.v]);
}

/**
 * Keeps cache rows `rows` (beam reordering): [B, H, P, hd] gathered on axis 0. On wasm and cpu the
 * rows are copied in JS: their Gather kernels index element by element (≈90 ns a float on wasm,
 * more than the rest of a decoding step at 10 beams), while a row here is one contiguous block.
 */
function reorderCache(cache: LayerCache[], rows: number[]): void {
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') {
    for (const c of cache) {
      c.k = copyRows(c.k, rows);
      c.v = copyRows(c.v, rows);
    }
    return;
  }
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

/** Rows `rows` of t [B, …] as a new tensor; disposes t. */
function copyRows(t: tf.Tensor4D, rows: number[]): tf.Tensor4D {
  const [, H, P, hd] = t.shape;
  const size = H * P * hd;
  const src = t.dataSync() as Float32Array;
  const dst = new Float32Array(rows.length * size);
  rows.forEach((r, i) => dst.set(src.subarray(r * size, (r + 1) * size), i * size));
  t.dispose();
  return tf.tensor4d(dst, [rows.length, H, P, hd]);
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

interface Hypothesis {
  gen: number[];
  score: number;
}

/** One prompt's search: its live beams (Σ log p so far) and its best finished hypothesis (normalised score). */
interface BeamState {
  beams: Hypothesis[];
  best: Hypothesis | null;
}

type BeamSettings = Required<Omit<BeamOptions, 'useCache'>>;

/**
 * One step of one prompt's search, given each live beam's ranked next tokens and banned set.
 * Candidates: each beam's first `beams` allowed tokens; the best `beams` of them survive (a stable
 * sort, so ties keep beam order, then rank). Survivors ending in a stop token become finished
 * hypotheses, so the beam count can shrink. Returns, per surviving beam, the beam it extends.
 */
function advanceBeams(state: BeamState, tops: RowTop[], banned: Set<number>[], o: BeamSettings): number[] {
  const cands: { from: number; token: number; score: number }[] = [];
  tops.forEach((top, b) => {
    for (const i of allowedTop(top, o.beams, banned[b])) cands.push({ from: b, token: top.tokens[i], score: state.beams[b].score + top.logProbs[i] });
  });
  cands.sort((a, b) => b.score - a.score);
  const next: Hypothesis[] = [];
  const rows: number[] = [];
  for (const c of cands.slice(0, o.beams)) {
    const gen = [...state.beams[c.from].gen, c.token];
    if (o.stopTokens.includes(c.token)) {
      const norm = c.score / gen.length ** o.lengthPenalty;
      if (!state.best || norm > state.best.score) state.best = { gen, score: norm };
    } else {
      next.push({ gen, score: c.score });
      rows.push(c.from);
    }
  }
  state.beams = next;
  if (o.earlyStop && settled(state, o)) {
    state.beams = [];
    return [];
  }
  return rows;
}

/**
 * Whether no descendant of a live beam can beat the best finished hypothesis, so that the search
 * can stop without changing its result. log p ≤ 0, so the beam (Σ log p = s ≤ 0, length len) or
 * any descendant, of length L ∈ [len, maxNewTokens], scores at most s / max(L^lengthPenalty); the 1e-4 slack
 * covers rounding (and a backend whose log p rounds a hair above 0). The best must beat the bound
 * strictly: a tie would not replace it either, but the slack keeps this side safe.
 */
function settled(state: BeamState, o: BeamSettings): boolean {
  const best = state.best;
  if (!best) return false;
  return state.beams.every((b) => {
    const s = b.score + 1e-4;
    if (s >= 0) return false;
    const longest = Math.max(b.gen.length ** o.lengthPenalty, o.maxNewTokens ** o.lengthPenalty);
    return s / longest < best.score;
  });
}

/** The best of the finished hypothesis and the beams still live at the end, each scored Σ log p / length^lengthPenalty. */
function bestOf(state: BeamState, o: BeamSettings): number[] {
  let best = state.best;
  for (const b of state.beams) {
    const norm = b.score / b.gen.length ** o.lengthPenalty;
    if (!best || norm > best.score) best = { gen: b.gen, score: norm };
  }
  return best ? best.gen : [];
}

/** Beam search; returns the new tokens of the best hypothesis (stop token included if reached). */
export async function beamSearch(model: FullModel, prompt: number[], opts: BeamOptions = {}): Promise<number[]> {
  const [gen] = await beamSearchSameLength(model, [prompt], { ...E2E_BEAM, useCache: true, earlyStop: true, ...opts });
  return gen;
}

export interface BatchBeamOptions extends BeamOptions {
  /**
   * Prompts decoded together, each with its own beams, in one forward per step (default 16). Only
   * prompts of equal token length share a batch, so that every row's attention spans the same
   * keys and its arithmetic is exactly that of beamSearch alone: outputs do not depend on it.
   */
  batchSize?: number;
  /** Called after each batch with the number of prompts done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Default prompts per batch of beamSearchBatch. */
export const DECODE_BATCH = 16;

/**
 * A batch holds at most this many bytes of KV cache (2 · layers · positions · n_embd · 4 per row);
 * larger models get fewer prompts per batch (GPT-2 S, E2E prompts, 10 beams: about 7), for wasm's 4 GB.
 */
export const DECODE_CACHE_BUDGET_BYTES = 512 * 2 ** 20;

/**
 * beamSearch for many prompts: result i equals beamSearch(model, prompts[i], opts), token for
 * token. Prompts are grouped by token length (in first-appearance order) and each group is cut
 * into batches of `batchSize`; a batch runs all its prompts' beams as rows of one forward per step.
 * A prompt whose beams have all finished leaves the batch (its cache rows are dropped), the others
 * go on.
 */
export async function beamSearchBatch(model: FullModel, prompts: readonly number[][], opts: BatchBeamOptions = {}): Promise<number[][]> {
  const { batchSize = DECODE_BATCH, onProgress, ...rest } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`beamSearchBatch: batchSize must be an integer >= 1, got ${batchSize}`);
  const o = { ...E2E_BEAM, useCache: true, earlyStop: true, ...rest };
  const { nLayer, nEmbd, nPositions } = model.config;
  const byLength = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error(`beamSearchBatch: prompt ${i} is empty`);
    byLength.set(p.length, [...(byLength.get(p.length) ?? []), i]);
  });
  const out: number[][] = new Array(prompts.length);
  let done = 0;
  for (const [T, members] of byLength) {
    const rowBytes = 2 * nLayer * Math.min(nPositions, T + o.maxNewTokens) * nEmbd * 4;
    const size = Math.max(1, Math.min(batchSize, Math.floor(DECODE_CACHE_BUDGET_BYTES / (rowBytes * o.beams))));
    for (let s = 0; s < members.length; s += size) {
      const batch = members.slice(s, s + size);
      const gens = await beamSearchSameLength(model, batch.map((i) => prompts[i]), o);
      batch.forEach((i, j) => { out[i] = gens[j]; });
      done += batch.length;
      onProgress?.(done, prompts.length);
    }
  }
  return out;
}

/** Beam search over prompts of one token length: the rows of all their live beams, prompt by prompt, form one batch. */
async function beamSearchSameLength(model: FullModel, prompts: number[][], o: BeamSettings & { useCache: boolean }): Promise<number[][]> {
  const T = prompts[0].length;
  const states: BeamState[] = prompts.map(() => ({ beams: [{ gen: [], score: 0 }], best: null }));
  let live = prompts.map((_, i) => i); // prompts with beams, in row order
  const cache = o.useCache ? model.emptyCache(live.length) : null;
  try {
    for (let step = 0; step < o.maxNewTokens && live.length > 0 && T + step < model.config.nPositions; step++) {
      const seqs: number[][] = [];
      const banned: Set<number>[] = [];
      for (const p of live) {
        for (const b of states[p].beams) {
          seqs.push([...prompts[p], ...b.gen]);
          banned.push(bannedTokens(b.gen, o.noRepeatNgram));
        }
      }
      // One k for all rows: the ranking is a total order, so each row's first k entries are the same.
      const past = step === 0 ? 0 : T + step - 1; // tokens already in the cache
      const tops = await nextTopTokens(model, seqs, cache, past, o.beams + Math.max(...banned.map((b) => b.size)));
      const rows: number[] = [];
      const still: number[] = [];
      let offset = 0;
      for (const p of live) {
        const n = states[p].beams.length;
        for (const r of advanceBeams(states[p], tops.slice(offset, offset + n), banned.slice(offset, offset + n), o)) rows.push(offset + r);
        if (states[p].beams.length > 0) still.push(p);
        offset += n;
      }
      live = still;
      if (cache && rows.length > 0) reorderCache(cache, rows);
    }
  } finally {
    disposeCache(cache);
  }
  return states.map((s) => bestOf(s, o));
}
