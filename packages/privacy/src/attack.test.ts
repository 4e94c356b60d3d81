import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { DEFAULT_LORA, initGpt2Weights, initLora, toWeights, type GPT2Config, type TensorRecord } from '@splitlora/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { activationInversion, type AttackOptions, type AttackResult, type RowAttack } from './attack';
import { addGaussianNoise, applyDefence, checkDefence, clipRows, newNoiseKey, noiseKeyFromSeed } from '@splitlora/client';
import { solveSpd } from './probe';

// GPT-2's own init (wte std 0.02) at a tiny width, with the real vocabulary: chance is 1/50257.
const cfg: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const examples = encodeExamples(syntheticE2E({ n: 3, seed: 0 }));
let weights: ReturnType<typeof toWeights>;

function attack(extra: Partial<AttackOptions>, sink?: (r: RowAttack) => void): Promise<AttackResult> {
  return activationInversion(examples, { config: cfg, weights, cut: 1, lora: DEFAULT_LORA, seqLen: 32, maxCandidates: 512, ...extra }, sink);
}

function expectConsistent(r: AttackResult): void {
  expect(r.examples).toBe(examples.length);
  expect(r.tokens).toBeGreaterThan(0);
  expect(r.recovered).toBeLessThanOrEqual(r.tokens);
  expect(r.completionTokens).toBeLessThan(r.tokens);
  expect(r.completionRecovered).toBeLessThanOrEqual(Math.min(r.completionTokens, r.recovered));
  expect(r.recoveryRate).toBeCloseTo(r.recovered / r.tokens, 12);
  expect(r.completionRecoveryRate).toBeCloseTo(r.completionRecovered / r.completionTokens, 12);
  expect(r.secondsPerExample).toBeGreaterThan(0);
}

beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
  weights = toWeights(initGpt2Weights(cfg, 1));
});

describe('activation inversion on a tiny random GPT-2', () => {
  it('recovers ≥ 95 % of the tokens at cuts 1 and 2 with no defence, on every wire format', async () => {
    const rows: RowAttack[] = [];
    for (const [cut, wire] of [[1, 'f32'], [2, 'f32'], [2, 'f16'], [2, 'int8']] as const) {
      const r = await attack({ cut, wire }, (row) => rows.push(row));
      expectConsistent(r);
      expect(r.cut).toBe(cut);
      expect(r.wire).toBe(wire);
      expect(r.noise).toBe(0);
      expect(r.clip).toBeNull();
      expect(r.recoveryRate, `cut ${cut} ${wire}`).toBeGreaterThanOrEqual(0.95);
      expect(r.completionRecoveryRate, `cut ${cut} ${wire}`).toBeGreaterThanOrEqual(0.95);
    }
    // The sink sees every attacked position: the counts above are over these rows.
    const first = rows.slice(0, examples.length);
    const tokens = first.reduce((s, x) => s + x.truth.length, 0);
    expect(first.every((x) => x.guess.length === x.truth.length)).toBe(true);
    expect(first.map((x) => x.truth.slice(0, x.completionFrom))).toEqual(examples.map((e) => e.context.slice(0, Math.min(e.context.length, 32))));
    expect(tokens).toBe(examples.reduce((s, e) => s + Math.min(e.context.length + e.completion.length - 1, 32), 0));
  });

  it('clipping alone does not hide the text from an attacker who knows the clip', async () => {
    const clean = await attack({ wire: 'f32' });
    const clip = 0.5 * clean.activationRms * Math.sqrt(cfg.nEmbd); // half the typical row norm: most rows are clipped
    const r = await attack({ wire: 'f32', actClip: clip });
    expectConsistent(r);
    expect(r.clip).toBe(clip);
    expect(r.recoveryRate).toBeGreaterThanOrEqual(0.95);
  });

  it('strong noise (σ = 3 × the activation RMS) drives recovery from ≥ 95 % to ≤ 5 %', async () => {
    const clean = await attack({ wire: 'f32' });
    const sigma = 3 * clean.activationRms;
    const noisy = await attack({ wire: 'f32', actNoise: sigma, maxCandidates: 64 });
    expectConsistent(noisy);
    expect(noisy.noise).toBe(sigma);
    expect(clean.recoveryRate).toBeGreaterThanOrEqual(0.95);
    expect(noisy.recoveryRate).toBeLessThanOrEqual(0.05);
    expect(noisy.candidatesPerToken).toBe(64); // under noise every shortlisted candidate is scored
  });

  it('a trained client adapter with dropout: recovered when the attacker knows the average', async () => {
    const lora = { ...DEFAULT_LORA, dropout: 0.1 };
    const trained: TensorRecord = initLora(cfg, lora, 0, cfg.nLayer, 3);
    for (const [k, t] of Object.entries(trained)) if (k.endsWith('lora_B')) t.data = t.data.map((_, j) => Math.sin(3 * j + 1) * 0.05);
    const known = await attack({ cut: 2, wire: 'f32', lora, clientAdapter: trained, attackerAdapter: trained, maxCandidates: 128 });
    expectConsistent(known);
    // The volunteer's dropout moves its rows off the attacker's (no-dropout) ones; nearest still wins.
    expect(known.recoveryRate).toBeGreaterThanOrEqual(0.9);
  });

  it('both shortlists lead to the text; the probe ranks the true token first as often or more', async () => {
    const probe = await attack({ cut: 2, wire: 'f32', shortlist: 'probe' });
    const embedding = await attack({ cut: 2, wire: 'f32', shortlist: 'embedding' });
    expect(probe.recoveryRate).toBeGreaterThanOrEqual(0.95);
    expect(embedding.recoveryRate).toBeGreaterThanOrEqual(0.95);
    expect(probe.candidatesPerToken).toBeLessThanOrEqual(embedding.candidatesPerToken);
  });

  it('rejects a bad cut, defence or wire format with a clear message', async () => {
    await expect(attack({ cut: 3 })).rejects.toThrow('cut must be an integer in 1..2');
    await expect(attack({ actNoise: -1 })).rejects.toThrow('actNoise must be a number >= 0');
    await expect(attack({ actClip: 0 })).rejects.toThrow('actClip must be a number > 0');
    await expect(attack({ wire: 'f8' as never })).rejects.toThrow('unknown wire format "f8"');
  });

  it('frees its tensors', async () => {
    await attack({ wire: 'f32' }); // warm-up: kernels and transposed copies made once
    const before = tf.memory().numTensors;
    await attack({ cut: 2, actNoise: 0.01, actClip: 1, maxCandidates: 32 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('solveSpd', () => {
  it('solves a symmetric positive definite system for several right-hand sides', () => {
    // A = M·Mᵀ + I, X known, B = A·X
    const n = 5;
    const m = 3;
    const M = Array.from({ length: n * n }, (_, i) => Math.sin(i + 1));
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 1 : 0;
      for (let k = 0; k < n; k++) s += M[i * n + k] * M[j * n + k];
      A[i * n + j] = s;
    }
    const X = Array.from({ length: n * m }, (_, i) => Math.cos(3 * i));
    const B = new Float64Array(n * m);
    for (let i = 0; i < n; i++) for (let c = 0; c < m; c++) for (let k = 0; k < n; k++) B[i * m + c] += A[i * n + k] * X[k * m + c];
    const got = solveSpd(Float64Array.from(A), B, n, m);
    got.forEach((v, i) => expect(v).toBeCloseTo(X[i], 9));
    expect(() => solveSpd(Float64Array.of(-1), Float64Array.of(1), 1, 1)).toThrow('not positive definite');
  });
});

describe('defences', () => {
  it('clipRows scales long rows to norm C and leaves short ones alone', () => {
    const data = Float32Array.of(3, 4, 0.3, 0.4); // norms 5 and 0.5
    clipRows(data, 2, 1);
    expect(Array.from(data).map((v) => +v.toFixed(6))).toEqual([0.6, 0.8, 0.3, 0.4]);
  });

  it('addGaussianNoise has the asked std, is keyed by (key, step), and applyDefence clips before noising', () => {
    const key = noiseKeyFromSeed(7);
    const a = addGaussianNoise(new Float32Array(20000), 0.5, key, 0);
    expect(addGaussianNoise(new Float32Array(20000), 0.5, key, 0)).toEqual(a);
    const otherKey = addGaussianNoise(new Float32Array(20000), 0.5, noiseKeyFromSeed(8), 0);
    const otherStep = addGaussianNoise(new Float32Array(20000), 0.5, key, 1);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(std).toBeGreaterThan(0.49);
    expect(std).toBeLessThan(0.51);
    // Another key or another step: uncorrelated draws, not a shifted copy.
    for (const b of [otherKey, otherStep]) {
      const corr = a.reduce((s, v, i) => s + v * b[i], 0) / (a.length * 0.25);
      expect(Math.abs(corr)).toBeLessThan(0.05);
    }
    const row = applyDefence(Float32Array.of(30, 40), 2, { actClip: 5 }, 0);
    expect(Array.from(row)).toEqual([3, 4]);
  });

  it('noise without a key, or a key of the wrong size, is refused rather than drawn from a known key', () => {
    expect(() => applyDefence(new Float32Array(4), 2, { actNoise: 0.1 }, 0)).toThrow(/noiseKey/);
    expect(() => checkDefence({ actNoise: 0.1, noiseKey: new Uint8Array(4) })).toThrow(/32 bytes/);
    expect(newNoiseKey()).not.toEqual(newNoiseKey());
  });
});
