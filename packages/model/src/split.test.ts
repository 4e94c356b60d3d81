import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { initGpt2Weights } from './checkpoint/init';
import type { GPT2Config } from './config';
import { initLora, type LoraConfig } from './lora';
import { maskWeights } from './loss';
import { ClientModel, FullModel, ServerModel, disposeWeights, toWeights } from './split';
import type { TensorRecord } from './tensor-record';

const cfg: GPT2Config = { vocabSize: 97, nPositions: 32, nEmbd: 16, nLayer: 4, nHead: 2, layerNormEps: 1e-5 };
const loraCfg: LoraConfig = { r: 2, alpha: 8, dropout: 0.1, targets: ['q', 'v', 'mlp.c_fc'] };
const optimizer = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };

// B starts at zero in a real init, which would make every A-gradient zero; use random B here.
function randomAdapter(seed: number): TensorRecord {
  const rec = initLora(cfg, loraCfg, 0, cfg.nLayer, seed);
  let x = seed;
  for (const [k, t] of Object.entries(rec)) if (k.endsWith('lora_B')) t.data = t.data.map(() => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2);
  return rec;
}

function sliceRecord(rec: TensorRecord, from: number, to: number): TensorRecord {
  return Object.fromEntries(Object.entries(rec).filter(([k]) => { const i = Number(k.split('.')[1]); return i >= from && i < to; }));
}

const relErr = (a: Float32Array, b: Float32Array) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
};

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

describe('split model equals the whole model', () => {
  const B = 3, T = 7;
  const ids = Int32Array.from({ length: B * T }, (_, j) => (j * 31 + 7) % cfg.vocabSize);
  const targets = Int32Array.from({ length: B * T }, (_, j) => (j * 17 + 3) % cfg.vocabSize);
  const mask = Float32Array.from({ length: B * T }, (_, j) => (j % T >= 2 ? 1 : 0));
  const weights = toWeights(initGpt2Weights(cfg, 1));
  const adapter = randomAdapter(5);
  const seed = 1234; // the same dropout masks on both paths

  for (const cut of [1, Math.floor(cfg.nLayer / 2), cfg.nLayer - 1]) {
    it(`cut=${cut}: loss and every LoRA gradient agree`, async () => {
      const full = new FullModel(cfg, weights, { lora: loraCfg, optimizer, adapter });
      tf.dispose(full.logits(ids, B, T)); // creates the cached transposes of the frozen weights
      const before = tf.memory().numTensors - Object.keys(full.vars).length;
      const client = new ClientModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: sliceRecord(adapter, 0, cut) });
      const server = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: sliceRecord(adapter, cut, cfg.nLayer) });

      const ref = full.grads({ ids, targets, mask, batch: B, seqLen: T }, { smoothing: 0.1, dropoutSeed: seed });
      const acts = client.forward(ids, B, T, seed);
      expect(acts.shape).toEqual([B, T, cfg.nEmbd]);
      const s = server.grads(acts, targets, maskWeights(mask), { smoothing: 0.1, dropoutSeed: seed });
      const c = client.grads(ids, B, T, seed, s.gradActs);

      expect(Math.abs((await s.loss.data())[0] - (await ref.loss.data())[0])).toBeLessThan(1e-5);
      const splitGrads = { ...c, ...s.grads };
      expect(Object.keys(splitGrads).sort()).toEqual(Object.keys(ref.grads).sort());
      for (const [name, g] of Object.entries(ref.grads)) {
        const want = (await g.data()) as Float32Array;
        expect(want.some((x) => x !== 0), name).toBe(true);
        expect(relErr((await splitGrads[name].data()) as Float32Array, want), name).toBeLessThan(1e-4);
      }
      tf.dispose([acts, s.loss, s.rowLoss, s.gradActs, ref.loss, ...Object.values(ref.grads), ...Object.values(splitGrads)]);
      full.dispose(); client.dispose(); server.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('training', () => {
  it('a tiny model overfits 8 examples', async () => {
    // With GPT-2's 0.02 init, ln_f-normalised states times wte give logits within ±0.3, which no
    // adapter can widen; a larger wte lets LoRA show that it learns (as a pretrained base would).
    const base = initGpt2Weights(cfg, 2);
    base['wte.weight'].data = base['wte.weight'].data.map((x) => x * 25);
    const weights = toWeights(base);
    const model = new FullModel(cfg, weights, { lora: { ...loraCfg, r: 8, targets: ['q', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] }, optimizer: { ...optimizer, lr: 1e-2 }, seed: 3 });
    // 8 sequences of a learnable rule: each next token is (token · 5 + 1) mod V.
    const B = 8, T = 10;
    const ids = Int32Array.from({ length: B * T }, (_, j) => (Math.floor(j / T) * 11 + (j % T) * 5) % cfg.vocabSize);
    const targets = ids.map((t) => (t * 5 + 1) % cfg.vocabSize);
    const mask = new Float32Array(B * T).fill(1);
    const batch = { ids, targets, mask, batch: B, seqLen: T };
    const first = (await model.nll(batch)).nll;
    for (let step = 0; step < 80; step++) await model.step(batch, { smoothing: 0, dropoutSeed: null });
    const last = (await model.nll(batch)).nll;
    expect(last).toBeLessThan(first * 0.5);
    model.dispose();
  });

  it('a zero-B adapter leaves logits unchanged and the server step returns a cut gradient', async () => {
    const weights = toWeights(initGpt2Weights(cfg, 4));
    const server = new ServerModel(cfg, weights, 2, { lora: loraCfg, optimizer, seed: 1 });
    const acts = tf.randomNormal([2, 5, cfg.nEmbd], 0, 1, 'float32', 9);
    const res = await server.step(acts, new Int32Array(10).fill(5), maskWeights(new Float32Array(10).fill(1)), { smoothing: 0.1, dropoutSeed: 7 });
    expect(Number.isFinite(res.loss)).toBe(true);
    expect(res.gradActs.shape).toEqual([2, 5, cfg.nEmbd]);
    expect(server.optimizer.step).toBe(1);
    tf.dispose([acts, res.gradActs]);
    server.dispose();
  });
});

describe('disposeWeights', () => {
  it('frees the weights and the transposed copies training made of them', async () => {
    const start = tf.memory().numTensors;
    const weights = toWeights(initGpt2Weights(cfg, 3));
    const client = new ClientModel(cfg, weights, 2, { lora: loraCfg, optimizer, adapter: sliceRecord(randomAdapter(2), 0, 2) });
    const B = 2, T = 5;
    const ids = Int32Array.from({ length: B * T }, (_, j) => j % cfg.vocabSize);
    const dy = tf.ones([B, T, cfg.nEmbd]);
    client.backward(ids, B, T, 7, dy); // forward + backward: makes the transposes, the AdamW moments
    dy.dispose();
    const withTransposes = tf.memory().numTensors;
    client.dispose();
    disposeWeights(weights);
    expect(withTransposes - start).toBeGreaterThan(Object.keys(weights).length);
    expect(tf.memory().numTensors).toBe(start);
  });
});
