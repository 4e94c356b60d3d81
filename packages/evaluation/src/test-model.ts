// Test-only helper (not exported): a tiny random GPT-2 with the full BPE vocabulary, so real E2E text encodes.
import { FullModel, SPLITLORA_ADAMW, initGpt2Weights, toWeights, type GPT2Config } from '@splitlora/model';

export const TINY: GPT2Config = { vocabSize: 50257, nPositions: 96, nEmbd: 16, nLayer: 1, nHead: 2, layerNormEps: 1e-5 };

export function tinyModel(seed: number, scale = 20): FullModel {
  const w = initGpt2Weights(TINY, seed);
  for (const t of Object.values(w)) t.data = t.data.map((x) => x * scale); // peaked distributions
  return new FullModel(TINY, toWeights(w), { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
}
