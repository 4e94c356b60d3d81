import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, type EncodedExample } from '@splitlora/data';
import type { FullModel } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldoutLoss } from './heldout';
import { tinyFullModel } from '../../../test/kit/tiny';

const examples = encodeExamples([
  { context: 'name : The Eagle | Type : pub', completion: 'The Eagle is a pub .' },
  { context: 'name : Zizzi | area : riverside | priceRange : cheap', completion: 'Zizzi is a cheap place by the riverside with a long description of its food .' },
  { context: 'name : Aromi', completion: 'Aromi .' },
  { context: 'name : Blue Spice | Type : coffee shop | area : city centre', completion: 'A coffee shop in the city centre area called Blue Spice .' },
  { context: 'name : Cotto | near : Ranch', completion: 'Cotto is near Ranch .' },
]);

/** Σ −log p(completion token) from the model's logits, one example at a time: no batching, no mask. */
async function handSum(model: FullModel, exs: EncodedExample[]): Promise<{ nll: number; tokens: number }> {
  let nll = 0;
  let tokens = 0;
  for (const e of exs) {
    const seq = [...e.context, ...e.completion];
    const T = seq.length - 1;
    const lp = tf.tidy(() => tf.logSoftmax(model.logits(Int32Array.from(seq.slice(0, T)), 1, T))); // [T, V]
    const data = await lp.data();
    const V = lp.shape[1];
    lp.dispose();
    // Position t predicts seq[t + 1]; the completion starts at seq[context.length].
    for (let t = e.context.length - 1; t < T; t++) nll -= data[t * V + seq[t + 1]];
    tokens += e.completion.length;
  }
  return { nll, tokens };
}

let model: FullModel;
beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
  model = tinyFullModel(11);
});
afterAll(() => model.dispose());

describe('heldoutLoss', () => {
  it('equals the token-weighted NLL hand-summed from the logits, for any batch size', async () => {
    const ref = await handSum(model, examples);
    const before = tf.memory().numTensors;
    const progress: [number, number][] = [];
    const r = await heldoutLoss(model, examples, { batch: 3, onProgress: (d, t) => progress.push([d, t]) });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.examples).toBe(5);
    expect(r.tokens).toBe(ref.tokens);
    expect(r.tokens).toBe(examples.reduce((s, e) => s + e.completion.length, 0));
    expect(Math.abs(r.meanNll - ref.nll / ref.tokens)).toBeLessThan(1e-4 * Math.max(1, ref.nll / ref.tokens));
    expect(r.perplexity).toBeCloseTo(Math.exp(r.meanNll), 6);
    expect(progress).toEqual([[3, 5], [5, 5]]);
    // Batches are trimmed and padded with mask 0, so the batch size changes nothing.
    for (const batch of [1, 5]) {
      const other = await heldoutLoss(model, examples, { batch });
      expect(other.tokens).toBe(r.tokens);
      expect(Math.abs(other.meanNll - r.meanNll)).toBeLessThan(1e-4);
    }
  });

  it('is NaN on no examples and rejects a bad batch size', async () => {
    const r = await heldoutLoss(model, []);
    expect(r.tokens).toBe(0);
    expect(r.meanNll).toBeNaN();
    await expect(heldoutLoss(model, examples, { batch: 0 })).rejects.toThrow('batch must be an integer >= 1, got 0');
  });
});
