// The tiny GPT-2s the tests run on. No test framework here: Playwright specs import this too.
import { FullModel, SPLITLORA_ADAMW, initGpt2Weights, toWeights, type GPT2Config, type TensorRecord } from '@splitlora/model';
import type { SimModel, TrainSettings } from '@splitlora/lab';

/**
 * The shared tiny model (server, cluster, simulation and CLI tests): 2 blocks of width 32 and the
 * full GPT-2 vocabulary, so that real text encodes.
 */
export const TINY: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };

/** GPT-2 init with a wider wte, so that LoRA can move the tied head's logits on a random base. */
export function tinyWeights(config: GPT2Config = TINY, seed = 1): TensorRecord {
  const w = initGpt2Weights(config, seed);
  w['wte.weight'].data = w['wte.weight'].data.map((x) => x * 25);
  return w;
}

/** TINY with tinyWeights, as the simulations take a model. */
export function tinyModel(seed = 1): SimModel {
  return { id: 'test-tiny', config: TINY, weights: tinyWeights(TINY, seed) };
}

/** Simulation settings small enough for a test: 2 clients × 2 steps at cut 1. */
export function tinySettings(over: Partial<TrainSettings> = {}): TrainSettings {
  return {
    clients: 2, cut: 1, lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] }, interval: 1, steps: 2, batch: 2, seqLen: 48,
    lr: 5e-3, labelSmoothing: 0.1, wire: 'f32', seed: 7, evalEvery: 1, ...over,
  };
}

/** For the evaluation tests: 1 block of width 16, the full vocabulary, 96 positions (prompt plus generation). */
export const EVAL_TINY: GPT2Config = { vocabSize: 50257, nPositions: 96, nEmbd: 16, nLayer: 1, nHead: 2, layerNormEps: 1e-5 };

/** A random EVAL_TINY, every weight scaled by `scale` (peaked distributions), as a FullModel. */
export function tinyFullModel(seed: number, scale = 20): FullModel {
  const w = initGpt2Weights(EVAL_TINY, seed);
  for (const t of Object.values(w)) t.data = t.data.map((x) => x * scale);
  return new FullModel(EVAL_TINY, toWeights(w), { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
}
