import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TensorRecord } from '@splitlora/tensor';
import { initGpt2Weights } from './checkpoint/init';
import { lmHead, resolveTransientPacks, resolveTransposedCopies, runBlocks, transposedBytes } from './gpt2';
import { maskWeights } from './loss';
import { ClientModel, FullModel, ServerModel, disposeWeights, frozenMatmulBytes, toWeights } from './split';
import { cfg, loraCfg, optimizer, randomAdapter } from '../../../test/kit/split';


function sliceRecord(rec: TensorRecord, from: number, to: number): TensorRecord {
  return Object.fromEntries(Object.entries(rec).filter(([k]) => { const i = Number(k.split('.')[1]); return i >= from && i < to; }));
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
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
      const warm = full.grads({ ids, targets, mask, batch: B, seqLen: T }, { smoothing: 0.1, dropoutSeed: seed });
      tf.dispose([warm.loss, ...Object.values(warm.grads)]); // backward creates the cached transposes of the frozen weights
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

describe('the head and loss on the masked rows only', () => {
  const B = 3, T = 7, N = B * T, cut = 2;
  // Row 0: 3 prompt positions; row 1: all prompt (no loss at all); row 2: 1 prompt position.
  const prompt = [3, T, 1];
  const mask = Float32Array.from({ length: N }, (_, j) => (j % T >= prompt[Math.floor(j / T)] ? 1 : 0));
  const targets = Int32Array.from({ length: N }, (_, j) => (j * 13 + 2) % cfg.vocabSize);
  const ids = Int32Array.from({ length: N }, (_, j) => (j * 29 + 3) % cfg.vocabSize);
  const weights = toWeights(initGpt2Weights(cfg, 6));
  const adapter = randomAdapter(8);
  const serverAdapter = sliceRecord(adapter, cut, cfg.nLayer);
  const opts = { smoothing: 0.1, dropoutSeed: 99 };
  const acts = tf.randomNormal([B, T, cfg.nEmbd], 0, 1, 'float32', 3) as tf.Tensor3D;
  const data = async (t: tf.Tensor) => (await t.data()) as Float32Array;

  /** The textbook computation: every row through lmHead, dense one-hot, logSoftmax, autodiff. */
  function reference(): { loss: tf.Scalar; gradActs: tf.Tensor; grads: Record<string, tf.Tensor> } {
    const names = Object.keys(serverAdapter);
    const params = names.map((n) => tf.tensor(serverAdapter[n].data, serverAdapter[n].shape));
    const w = tf.tensor1d(maskWeights(mask));
    const t = tf.tensor1d(targets, 'int32');
    const f = (x: tf.Tensor, ...ps: tf.Tensor[]) => {
      const lora = { cfg: loraCfg, params: Object.fromEntries(names.map((n, j) => [n, ps[j]])) };
      const h = runBlocks(cfg, weights, tf.reshape(x, [N, cfg.nEmbd]) as tf.Tensor2D, B, T, cut, cfg.nLayer, { lora, dropout: { p: loraCfg.dropout, seed: opts.dropoutSeed } });
      const logp = tf.logSoftmax(lmHead(cfg, weights, h));
      const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(t, cfg.vocabSize)), -1));
      return tf.sum(tf.mul(tf.add(tf.mul(0.9, nll), tf.mul(0.1, tf.neg(tf.mean(logp, -1)))), w)) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)([acts, ...params]);
    tf.dispose([...params, w, t]);
    return { loss: value as tf.Scalar, gradActs: grads[0], grads: Object.fromEntries(names.map((n, j) => [n, grads[j + 1]])) };
  }

  it('loss, row losses, cut gradient and LoRA gradients equal the all-rows computation (1e-5)', async () => {
    const server = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter });
    const masked = server.grads(acts, targets, maskWeights(mask), opts);
    const all = server.grads(acts, targets, maskWeights(mask), { ...opts, allRows: true });
    const ref = reference();
    const refLoss = (await data(ref.loss))[0];
    expect(refLoss).toBeGreaterThan(0);
    for (const got of [masked, all]) {
      expect(Math.abs((await data(got.loss))[0] - refLoss) / refLoss).toBeLessThan(1e-5);
      expect(relErr(await data(got.gradActs), await data(ref.gradActs))).toBeLessThan(1e-5);
      for (const [name, g] of Object.entries(ref.grads)) expect(relErr(await data(got.grads[name]), await data(g)), name).toBeLessThan(1e-5);
    }
    const rows = await data(masked.rowLoss);
    expect(rows.length).toBe(N);
    expect(relErr(rows, await data(all.rowLoss))).toBeLessThan(1e-5);
    for (let j = 0; j < N; j++) if (mask[j] === 0) expect(rows[j]).toBe(0);
    // The all-prompt row gets no cut gradient at all (nothing after it in its sequence has a loss).
    expect((await data(masked.gradActs)).subarray(T * cfg.nEmbd, 2 * T * cfg.nEmbd).every((v) => v === 0)).toBe(true);
    for (const r of [masked, all]) tf.dispose([r.loss, r.rowLoss, r.gradActs, ...Object.values(r.grads)]);
    tf.dispose([ref.loss, ref.gradActs, ...Object.values(ref.grads)]);
    server.dispose();
  });

  it('one optimiser step gives the same adapter and cut gradient as the all-rows step', async () => {
    const a = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter });
    const b = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter });
    const ra = await a.step(acts, targets, maskWeights(mask), opts);
    const rb = await b.step(acts, targets, maskWeights(mask), { ...opts, allRows: true });
    expect(Math.abs(ra.loss - rb.loss) / rb.loss).toBeLessThan(1e-5);
    expect(relErr(await data(ra.gradActs), await data(rb.gradActs))).toBeLessThan(1e-5);
    const [wa, wb] = [await a.adapter(), await b.adapter()];
    for (const name of Object.keys(wb)) {
      expect(relErr(wa[name].data, wb[name].data), name).toBeLessThan(1e-5);
      expect(relErr(wa[name].data, serverAdapter[name].data), name).toBeGreaterThan(0); // the step moved it
    }
    tf.dispose([ra.gradActs, rb.gradActs]);
    a.dispose(); b.dispose();
  });

  it('FullModel: masked-row loss, gradients and held-out NLL equal the all-rows ones', async () => {
    const full = new FullModel(cfg, weights, { lora: loraCfg, optimizer, adapter });
    const batch = { ids, targets, mask, batch: B, seqLen: T };
    const m = full.grads(batch, opts);
    const all = full.grads(batch, { ...opts, allRows: true });
    expect(Math.abs((await data(m.loss))[0] - (await data(all.loss))[0]) / (await data(all.loss))[0]).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(all.grads)) expect(relErr(await data(m.grads[name]), await data(g)), name).toBeLessThan(1e-5);
    const { nll, count } = await full.nll(batch);
    const lp = await data(tf.tidy(() => tf.logSoftmax(full.logits(ids, B, T))));
    let want = 0;
    for (let j = 0; j < N; j++) want -= mask[j] * lp[j * cfg.vocabSize + targets[j]];
    expect(Math.abs(nll - want) / want).toBeLessThan(1e-5);
    expect(count).toBe(mask.reduce((s, v) => s + v, 0));
    // Logits of selected rows equal those rows of the full logits.
    const some = await data(full.logits(ids, B, T, undefined, 0, Int32Array.of(6, 13)));
    const every = await data(full.logits(ids, B, T));
    expect(relErr(some, [...every.subarray(6 * cfg.vocabSize, 7 * cfg.vocabSize), ...every.subarray(13 * cfg.vocabSize, 14 * cfg.vocabSize)])).toBeLessThan(1e-6);
    for (const r of [m, all]) tf.dispose([r.loss, ...Object.values(r.grads)]);
    full.dispose();
  });

  it('micro-batches of one sequence give the same step as the whole batch, dropout masks included', async () => {
    const whole = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter });
    const split = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter, microBatch: 1 });
    expect(whole.sequencesPerMicroBatch(B, T, 10)).toBe(B);
    expect(split.sequencesPerMicroBatch(B, T, 10)).toBe(1);
    const a = whole.grads(acts, targets, maskWeights(mask), opts);
    const b = split.grads(acts, targets, maskWeights(mask), opts);
    expect(Math.abs((await data(a.loss))[0] - (await data(b.loss))[0]) / (await data(a.loss))[0]).toBeLessThan(1e-5);
    expect(relErr(await data(b.rowLoss), await data(a.rowLoss))).toBeLessThan(1e-5);
    expect(relErr(await data(b.gradActs), await data(a.gradActs))).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(a.grads)) expect(relErr(await data(b.grads[name]), await data(g)), name).toBeLessThan(1e-5);
    const fullWhole = new FullModel(cfg, weights, { lora: loraCfg, optimizer, adapter });
    const fullSplit = new FullModel(cfg, weights, { lora: loraCfg, optimizer, adapter, microBatch: 2 });
    const batch = { ids, targets, mask, batch: B, seqLen: T };
    const fa = fullWhole.grads(batch, opts);
    const fb = fullSplit.grads(batch, opts);
    expect(Math.abs((await data(fa.loss))[0] - (await data(fb.loss))[0]) / (await data(fa.loss))[0]).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(fa.grads)) expect(relErr(await data(fb.grads[name]), await data(g)), name).toBeLessThan(1e-5);
    for (const r of [a, b]) tf.dispose([r.loss, r.rowLoss, r.gradActs, ...Object.values(r.grads)]);
    for (const r of [fa, fb]) tf.dispose([r.loss, ...Object.values(r.grads)]);
    for (const m of [whole, split, fullWhole, fullSplit]) m.dispose();
    expect(() => new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, microBatch: 0 })).toThrow(/microBatch must be a positive integer/);
  });

  it('an empty mask gives zero loss and zero gradients', async () => {
    const server = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: serverAdapter });
    const r = server.grads(acts, targets, new Float32Array(N), opts);
    expect((await data(r.loss))[0]).toBe(0);
    expect((await data(r.gradActs)).every((v) => v === 0)).toBe(true);
    expect((await data(r.rowLoss)).every((v) => v === 0)).toBe(true);
    tf.dispose([r.loss, r.rowLoss, r.gradActs, ...Object.values(r.grads)]);
    server.dispose();
  });
});

describe('transposed copies', () => {
  it('with and without them the server step computes the same; without, none are made', async () => {
    const B = 2, T = 6, N = B * T, cut = 1;
    const mask = Float32Array.from({ length: N }, (_, j) => (j % T >= 2 ? 1 : 0));
    const targets = Int32Array.from({ length: N }, (_, j) => (j * 7 + 1) % cfg.vocabSize);
    const acts = tf.randomNormal([B, T, cfg.nEmbd], 0, 1, 'float32', 4) as tf.Tensor3D;
    const adapter = sliceRecord(randomAdapter(9), cut, cfg.nLayer);
    const results: { loss: number; gradActs: Float32Array; grads: Float32Array[] }[] = [];
    for (const [transposedCopies, transientPacks] of [[false, false], [true, false], [false, true]]) {
      const weights = toWeights(initGpt2Weights(cfg, 7));
      const server = new ServerModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter, transposedCopies, transientPacks });
      expect(server.transposedCopies).toBe(transposedCopies);
      expect(server.transientPacks).toBe(transientPacks);
      const r = server.grads(acts, targets, maskWeights(mask), { smoothing: 0.1, dropoutSeed: 5 });
      const copyBytes = transposedBytes(weights);
      if (transposedCopies) expect(copyBytes).toBe(frozenMatmulBytes(cfg, server.range));
      else expect(copyBytes).toBe(0);
      results.push({ loss: (await r.loss.data())[0], gradActs: (await r.gradActs.data()) as Float32Array, grads: await Promise.all(Object.keys(r.grads).sort().map(async (k) => (await r.grads[k].data()) as Float32Array)) });
      tf.dispose([r.loss, r.rowLoss, r.gradActs, ...Object.values(r.grads)]);
      server.dispose();
      disposeWeights(weights);
    }
    for (const other of results.slice(1)) {
      expect(Math.abs(results[0].loss - other.loss) / other.loss).toBeLessThan(1e-5);
      expect(relErr(results[0].gradActs, other.gradActs)).toBeLessThan(1e-5);
      other.grads.forEach((g, j) => expect(relErr(results[0].grads[j], g)).toBeLessThan(1e-5));
    }
    acts.dispose();
  });

  it("'auto' keeps them on wasm for small models and a GPT-2 S server, not for the whole GPT-2 S or GPT-2 M", () => {
    const gpt2 = { ...cfg, vocabSize: 50257, nEmbd: 768, nLayer: 12, nHead: 12 };
    const medium = { ...cfg, vocabSize: 50257, nEmbd: 1024, nLayer: 24, nHead: 16 };
    const mini = { ...cfg, vocabSize: 50257, nEmbd: 256, nLayer: 8, nHead: 8 };
    const gpt2Bytes = frozenMatmulBytes(gpt2, { from: 0, to: 12, head: true });
    expect(gpt2Bytes).toBe(4 * (12 * 12 * 768 * 768 + 50257 * 768));
    expect(resolveTransposedCopies('auto', gpt2Bytes, 'wasm')).toBe(false);
    expect(resolveTransposedCopies('auto', frozenMatmulBytes(gpt2, { from: 3, to: 12, head: true }), 'wasm')).toBe(true);
    expect(resolveTransposedCopies('auto', frozenMatmulBytes(medium, { from: 6, to: 24, head: true }), 'wasm')).toBe(false);
    expect(resolveTransposedCopies('auto', frozenMatmulBytes(mini, { from: 0, to: 8, head: true }), 'wasm')).toBe(true);
    expect(resolveTransposedCopies('auto', 1000, 'webgpu')).toBe(false); // transposeB is native there
    expect(resolveTransposedCopies(true, gpt2Bytes, 'webgpu')).toBe(true);
    // Transient packs: only where weights are big and there are no copies (a GPT-2 M server), on wasm.
    const mediumServer = frozenMatmulBytes(medium, { from: 6, to: 24, head: true });
    expect(resolveTransientPacks('auto', mediumServer, false, 'wasm')).toBe(true);
    expect(resolveTransientPacks('auto', mediumServer, true, 'wasm')).toBe(false);
    expect(resolveTransientPacks('auto', gpt2Bytes, false, 'wasm')).toBe(false);
    expect(resolveTransientPacks('auto', mediumServer, false, 'webgpu')).toBe(false);
    const small = new ServerModel(cfg, toWeights(initGpt2Weights(cfg, 1)), 1, { lora: loraCfg, optimizer, seed: 1 });
    expect(small.transposedCopies).toBe(true); // wasm, tiny
    disposeWeights(small.weights);
    small.dispose();
  });
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
