import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { attentionCore, geluTanh, layerNorm } from './gpt2';
import { loraDelta } from './lora';

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
};

/** Value and input gradients (for upstream dy) of f and of its plain-autodiff reference agree within 1e-5. */
async function expectSameVjp(f: (...xs: tf.Tensor[]) => tf.Tensor, ref: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) {
  const dy = tf.randomNormal(ref(...xs).shape, 0, 1, 'float32', 11);
  const [got, want] = [f, ref].map((g) => tf.grads((...a: tf.Tensor[]) => g(...a))(xs, dy));
  expect(relErr(await f(...xs).data(), await ref(...xs).data())).toBeLessThan(1e-5);
  for (let j = 0; j < xs.length; j++) expect(relErr(await got[j].data(), await want[j].data()), `input ${j}`).toBeLessThan(1e-5);
}

describe('hand-written gradients equal autodiff of the textbook formulas', () => {
  it('layerNorm', async () => {
    const g = tf.randomNormal([16], 1, 0.3, 'float32', 1), b = tf.randomNormal([16], 0, 0.3, 'float32', 2);
    const ref = (x: tf.Tensor) => {
      const xc = tf.sub(x, tf.mean(x, -1, true));
      return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5))), g), b);
    };
    await expectSameVjp((x) => layerNorm(x as tf.Tensor2D, g, b, 1e-5), ref, [tf.randomNormal([6, 16], 0.5, 2, 'float32', 3)]);
  });

  it('geluTanh', async () => {
    const ref = (x: tf.Tensor) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    await expectSameVjp(geluTanh, ref, [tf.randomNormal([5, 12], 0, 2, 'float32', 4)]);
  });

  it('attentionCore (causal, with a key cache longer than the queries)', async () => {
    const [B, H, T, S, hd] = [2, 3, 4, 6, 5];
    const m = new Float32Array(T * S);
    for (let i = 0; i < T; i++) for (let j = S - T + i + 1; j < S; j++) m[i * S + j] = -1e9;
    const mask = tf.tensor2d(m, [T, S]);
    const ref = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 0.4), mask)), v);
    await expectSameVjp((q, k, v) => attentionCore(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, mask, 0.4), ref,
      [tf.randomNormal([B, H, T, hd], 0, 1, 'float32', 5), tf.randomNormal([B, H, S, hd], 0, 1, 'float32', 6), tf.randomNormal([B, H, S, hd], 0, 1, 'float32', 7)]);
  });

  it('loraDelta, and with dropout the masked inputs get no gradient', async () => {
    const cfg = { r: 2, alpha: 6, dropout: 0.5, targets: ['q' as const] };
    const delta = (p: number) => (x: tf.Tensor, A: tf.Tensor, B: tf.Tensor) =>
      loraDelta({ cfg, params: { 'h.0.q.lora_A': A, 'h.0.q.lora_B': B } }, 0, 'q', x as tf.Tensor2D, p > 0 ? { p, seed: 3 } : null, 'attn_in')!;
    const ref = (x: tf.Tensor, A: tf.Tensor, B: tf.Tensor) => tf.mul(tf.matMul(tf.matMul(x, A), B), 3);
    const xs = [tf.randomNormal([7, 8], 0, 1, 'float32', 8), tf.randomNormal([8, 2], 0, 1, 'float32', 9), tf.randomNormal([2, 8], 0, 1, 'float32', 10)];
    await expectSameVjp(delta(0), ref, xs);
    // With dropout: the same as the reference on the masked input x⊙m, where m is read off with x = 1.
    const [, A, B] = xs;
    const m = tf.tidy(() => tf.div(delta(0.5)(tf.ones([7, 8]), tf.eye(8), tf.eye(8)), 3)); // (1⊙m)·I·I·scale / scale = m
    await expectSameVjp(delta(0.5), (x, a, b) => ref(tf.mul(x, m), a, b), [xs[0], A, B]);
    const zeros = (await m.data()).filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(10); // p = 0.5 of 56 entries
  });
});
