import { PRESETS } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { matmulFlops, trainStepFlops } from './cost-model';

describe('trainStepFlops', () => {
  it('matches a hand count on a toy config', () => {
    // d=2, L=1, V=3, one token, LoRA r=1 on q (d_in = d_out = 2):
    // forward  = 24·d² (96) + attention 4·T·d (8) + LoRA 2·r·(2+2) (8) + head 2·d·V (12) = 124
    // backward = 96 + 2·8 + 2·8 + 12 = 140
    const cfg = { vocabSize: 3, nPositions: 4, nEmbd: 2, nLayer: 1, nHead: 1, layerNormEps: 1e-5 };
    const f = trainStepFlops(cfg, { r: 1, targets: ['q'] }, 1, 1);
    expect(f).toEqual({ forward: 124, backward: 140, total: 264, head: 24 });
  });

  it('GPT-2 S: the block matmuls are 2 FLOPs per non-embedding weight per token', () => {
    const cfg = PRESETS.gpt2;
    const noAttn = trainStepFlops(cfg, { r: 1, targets: [] }, 1, 1);
    const nonEmbeddingWeights = 12 * 12 * 768 * 768; // 85M in the four Conv1D matrices of 12 blocks
    const head = 2 * 768 * 50257;
    expect(noAttn.forward - head - 12 * 4 * 768).toBe(2 * nonEmbeddingWeights);
    expect(matmulFlops(512, 768, 3072)).toBe(2 * 512 * 768 * 3072);
  });

  it('the LM head dominates nano but not GPT-2 S', () => {
    const lora = { r: 4, targets: ['q', 'v'] as const };
    const nano = trainStepFlops(PRESETS.nano, { ...lora, targets: [...lora.targets] }, 8, 128);
    const gpt2 = trainStepFlops(PRESETS.gpt2, { ...lora, targets: [...lora.targets] }, 1, 64);
    expect(nano.head / nano.total).toBeGreaterThan(0.9);
    expect(gpt2.head / gpt2.total).toBeLessThan(0.4);
  });
});
