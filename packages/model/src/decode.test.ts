import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { SPLITLORA_ADAMW } from './adamw';
import { initGpt2Weights } from './checkpoint/init';
import type { GPT2Config } from './config';
import { beamSearch, beamSearchBatch, greedyDecode } from './decode';
import { FullModel, toWeights } from './split';

// A tiny vocabulary so that exhaustive search over every continuation is possible.
const cfg: GPT2Config = { vocabSize: 6, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };

function tinyModel(seed: number): FullModel {
  const w = initGpt2Weights(cfg, seed);
  for (const t of Object.values(w)) t.data = t.data.map((x) => x * 60); // peaked distributions
  return new FullModel(cfg, toWeights(w), { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
}

async function logProbOf(model: FullModel, prompt: number[], gen: number[]): Promise<number> {
  const seq = [...prompt, ...gen];
  const logits = model.logits(Int32Array.from(seq), 1, seq.length);
  const lp = tf.tidy(() => tf.logSoftmax(logits));
  const data = await lp.data();
  tf.dispose([logits, lp]);
  let s = 0;
  gen.forEach((tok, j) => { s += data[(prompt.length + j - 1) * cfg.vocabSize + tok]; });
  return s;
}

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

describe('decoding', () => {
  it('the KV-cache decode equals decoding without a cache', async () => {
    for (const seed of [1, 2, 3]) {
      const model = tinyModel(seed);
      tf.dispose(model.logits(Int32Array.from([1]), 1, 1)); // creates the head's cached wteᵀ
      const before = tf.memory().numTensors;
      const a = await greedyDecode(model, [1, 2], { maxNewTokens: 10, stopTokens: [], useCache: true });
      const b = await greedyDecode(model, [1, 2], { maxNewTokens: 10, stopTokens: [], useCache: false });
      expect(a).toHaveLength(10);
      expect(a).toEqual(b);
      const c = await beamSearch(model, [3], { beams: 4, maxNewTokens: 6, stopTokens: [0], noRepeatNgram: 0, useCache: true });
      const d = await beamSearch(model, [3], { beams: 4, maxNewTokens: 6, stopTokens: [0], noRepeatNgram: 0, useCache: false });
      expect(c).toEqual(d);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    }
  });

  it('beam search returns the highest-scoring sequence found by exhaustive search', async () => {
    const stop = 0, maxNew = 3, lengthPenalty = 0.8;
    for (const seed of [4, 5, 6, 7]) {
      const model = tinyModel(seed);
      const prompt = [2, 5];
      // Every hypothesis: sequences that end at the first stop token, or run to maxNew tokens.
      const hyps: number[][] = [];
      const grow = (gen: number[]) => {
        if (gen.length > 0 && (gen[gen.length - 1] === stop || gen.length === maxNew)) { hyps.push(gen); return; }
        for (let v = 0; v < cfg.vocabSize; v++) grow([...gen, v]);
      };
      grow([]);
      let best = { gen: [] as number[], score: -Infinity };
      for (const gen of hyps) {
        const score = (await logProbOf(model, prompt, gen)) / gen.length ** lengthPenalty;
        if (score > best.score) best = { gen, score };
      }
      // With beams ≥ V^(maxNew−1), no prefix is ever pruned, so beam search must find it.
      const got = await beamSearch(model, prompt, { beams: 36, maxNewTokens: maxNew, stopTokens: [stop], lengthPenalty, noRepeatNgram: 0 });
      expect(got).toEqual(best.gen);
      model.dispose();
    }
  });

  it('never repeats a 2-gram when noRepeatNgram is 2', async () => {
    const model = tinyModel(8);
    const gen = await beamSearch(model, [1], { beams: 3, maxNewTokens: 12, stopTokens: [], noRepeatNgram: 2 });
    const grams = gen.slice(1).map((t, j) => `${gen[j]},${t}`);
    expect(new Set(grams).size).toBe(grams.length);
    model.dispose();
  });
});

describe('beamSearchBatch', () => {
  // A vocabulary large enough for varied continuations; stop token 0 ends hypotheses at different steps.
  const bigCfg: GPT2Config = { vocabSize: 40, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
  const model = (seed: number) => {
    const w = initGpt2Weights(bigCfg, seed);
    for (const t of Object.values(w)) t.data = t.data.map((x) => x * 25);
    return new FullModel(bigCfg, toWeights(w), { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
  };
  // Lengths 3, 5 and 7, several prompts of each, interleaved.
  const prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9, 10, 11], [12, 13, 14, 15, 16, 17, 18], [19, 20, 21, 22, 23], [24, 25, 26], [3, 1, 4, 1, 5], [2, 7, 1, 8, 2, 8, 1], [30, 31, 32]];
  const opts = { beams: 4, maxNewTokens: 12, stopTokens: [0, 1, 2, 3], lengthPenalty: 0.8, noRepeatNgram: 3 };

  it('equals beamSearch prompt by prompt, token for token, at any batch size', async () => {
    for (const seed of [11, 12]) {
      const m = model(seed);
      const single: number[][] = [];
      for (const p of prompts) single.push(await beamSearch(m, p, opts));
      // Stopping a prompt once no live beam can beat its best changes nothing.
      for (const [i, p] of prompts.entries()) expect(await beamSearch(m, p, { ...opts, earlyStop: false })).toEqual(single[i]);
      // The case must exercise early finishers leaving a batch while others run on.
      const stopped = single.filter((g) => opts.stopTokens.includes(g[g.length - 1])).length;
      expect(stopped).toBeGreaterThan(0);
      expect(new Set(single.map((g) => g.length)).size).toBeGreaterThan(1);
      const before = tf.memory().numTensors;
      for (const batchSize of [1, 2, 16]) {
        let forwards = 0;
        const logits = m.logits.bind(m);
        m.logits = (...a: Parameters<typeof logits>) => { forwards++; return logits(...a); };
        const progress: number[] = [];
        const batched = await beamSearchBatch(m, prompts, { ...opts, batchSize, onProgress: (done) => progress.push(done) });
        m.logits = logits;
        expect(batched).toEqual(single);
        expect(progress[progress.length - 1]).toBe(prompts.length);
        if (batchSize === 16) expect(progress).toHaveLength(3); // one batch per prompt length
        if (batchSize === 16) expect(forwards).toBeLessThanOrEqual(3 * opts.maxNewTokens);
      }
      expect(await beamSearchBatch(m, prompts, { ...opts, useCache: false })).toEqual(single);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    }
  });

  it('with one beam and no n-gram block equals greedy decoding', async () => {
    const m = model(13);
    const greedy: number[][] = [];
    for (const p of prompts) greedy.push(await greedyDecode(m, p, { maxNewTokens: 10, stopTokens: [0] }));
    expect(await beamSearchBatch(m, prompts, { beams: 1, noRepeatNgram: 0, maxNewTokens: 10, stopTokens: [0] })).toEqual(greedy);
    m.dispose();
  });

  it('rejects a bad batch size and empty prompts', async () => {
    const m = model(14);
    await expect(beamSearchBatch(m, prompts, { batchSize: 0 })).rejects.toThrow('batchSize must be an integer >= 1, got 0');
    await expect(beamSearchBatch(m, [[1], []], {})).rejects.toThrow('prompt 1 is empty');
    expect(await beamSearchBatch(m, [], {})).toEqual([]);
    m.dispose();
  });
});
