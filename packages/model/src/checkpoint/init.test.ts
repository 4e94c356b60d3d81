import { describe, expect, it } from 'vitest';
import type { GPT2Config } from '../config';
import { gpt2ParamShapes } from './hf-gpt2';
import { initGpt2Weights } from './init';
import { expectSameBits } from '../../../../test/kit/checkpoint';

const CFG: GPT2Config = { vocabSize: 1000, nPositions: 64, nEmbd: 64, nLayer: 4, nHead: 4, layerNormEps: 1e-5 };

function stats(d: Float32Array) {
  let s = 0, s2 = 0;
  for (const v of d) {
    s += v;
    s2 += v * v;
  }
  const mean = s / d.length;
  return { mean, std: Math.sqrt(s2 / d.length - mean * mean) };
}

describe('initGpt2Weights', () => {
  const w = initGpt2Weights(CFG, 42);

  it('covers every parameter with the right shape', () => {
    const shapes = gpt2ParamShapes(CFG);
    expect(Object.keys(w)).toEqual(Object.keys(shapes));
    for (const [k, s] of Object.entries(shapes)) expect(w[k].data.length, k).toBe(s.reduce((a, b) => a * b, 1));
  });

  it('follows GPT-2 _init_weights: N(0, 0.02), c_proj N(0, 0.02/sqrt(2L)), biases 0, LayerNorm 1/0', () => {
    const wte = stats(w['wte.weight'].data); // 64k samples
    expect(Math.abs(wte.mean)).toBeLessThan(0.0005);
    expect(wte.std).toBeGreaterThan(0.0196);
    expect(wte.std).toBeLessThan(0.0204);
    expect(stats(w['wpe.weight'].data).std).toBeCloseTo(0.02, 3);
    expect(stats(w['h.2.mlp.c_fc.weight'].data).std).toBeCloseTo(0.02, 3);
    const want = 0.02 / Math.sqrt(2 * CFG.nLayer);
    const proj = stats(w['h.1.mlp.c_proj.weight'].data);
    expect(Math.abs(proj.std / want - 1)).toBeLessThan(0.02);
    expect(Math.abs(stats(w['h.3.attn.c_proj.weight'].data).std / want - 1)).toBeLessThan(0.05);
    expect(w['h.0.attn.c_attn.bias'].data.every((v) => v === 0)).toBe(true);
    expect(w['h.0.mlp.c_proj.bias'].data.every((v) => v === 0)).toBe(true);
    for (const n of ['h.0.ln_1', 'h.3.ln_2', 'ln_f']) {
      expect(w[`${n}.weight`].data.every((v) => v === 1), n).toBe(true);
      expect(w[`${n}.bias`].data.every((v) => v === 0), n).toBe(true);
    }
  });

  it('is deterministic per seed, and a subset equals the same tensors of the whole', () => {
    const again = initGpt2Weights(CFG, 42);
    for (const k of Object.keys(w)) expectSameBits(again[k].data, w[k].data, k);
    const other = initGpt2Weights(CFG, 43);
    expect(other['wte.weight'].data.subarray(0, 16)).not.toEqual(w['wte.weight'].data.subarray(0, 16));
    const sub = initGpt2Weights(CFG, 42, { include: (n) => n.startsWith('h.2.') });
    expect(Object.keys(sub).every((k) => k.startsWith('h.2.'))).toBe(true);
    expectSameBits(sub['h.2.attn.c_attn.weight'].data, w['h.2.attn.c_attn.weight'].data);
    // Different tensors of one model do not repeat each other's stream.
    expect(w['h.0.attn.c_attn.weight'].data.subarray(0, 8)).not.toEqual(w['h.1.attn.c_attn.weight'].data.subarray(0, 8));
  });

  it('keeps its values across versions (golden values; change only on purpose)', () => {
    const g = initGpt2Weights({ vocabSize: 50, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2, layerNormEps: 1e-5 }, 0);
    expect([...g['wte.weight'].data.subarray(0, 3)]).toEqual([-0.006220541894435883, 0.017474547028541565, -0.0016766069456934929]);
    expect([...g['h.1.mlp.c_proj.weight'].data.subarray(0, 2)]).toEqual([0.005866983439773321, 0.007117561064660549]);
  });
});
