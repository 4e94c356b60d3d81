// A tiny GPT-2 for the simulation tests (as test/support/server-harness.ts): 2 blocks of width 32,
// the full GPT-2 vocabulary, and a wider wte so that LoRA can move the tied head's logits.
import { initGpt2Weights, type GPT2Config } from '@splitlora/model';
import type { SimModel, TrainSettings } from './types';

export const TINY: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };

export function tinyModel(seed = 1): SimModel {
  const weights = initGpt2Weights(TINY, seed);
  weights['wte.weight'].data = weights['wte.weight'].data.map((x) => x * 25);
  return { id: 'test-tiny', config: TINY, weights };
}

export function tinySettings(over: Partial<TrainSettings> = {}): TrainSettings {
  return {
    clients: 2, cut: 1, lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] }, interval: 1, steps: 2, batch: 2, seqLen: 48,
    lr: 5e-3, labelSmoothing: 0.1, wire: 'f32', seed: 7, evalEvery: 1, ...over,
  };
}
