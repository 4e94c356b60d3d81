import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { SPLITLORA_ADAMW } from './adamw';
import { initGpt2Weights } from './checkpoint/init';
import type { GPT2Config } from './config';
import { beamSearch, greedyDecode } from './decode';
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
