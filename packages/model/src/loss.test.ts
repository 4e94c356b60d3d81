import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatherRows } from './gpt2';
import { activeRows, maskWeights, nllSum, smoothedCrossEntropy, tiedHeadLoss, tiedHeadNll } from './loss';

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
};

/** The textbook formula by autodiff: dense one-hot, logSoftmax, no hand-written gradient. */
function referenceLoss(logits: tf.Tensor2D, targets: tf.Tensor1D, w: tf.Tensor1D, eps: number): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(targets, logits.shape[1])), -1));
  const smooth = tf.neg(tf.mean(logp, -1));
  return tf.sum(tf.mul(tf.add(tf.mul(1 - eps, nll), tf.mul(eps, smooth)), w)) as tf.Scalar;
}

describe('loss', () => {
  const N = 12, d = 8, V = 37;
  const x = tf.randomNormal([N, d], 0, 1, 'float32', 1) as tf.Tensor2D;
  const wte = tf.randomNormal([V, d], 0, 2, 'float32', 2) as tf.Tensor2D;
  const targetIds = Int32Array.from({ length: N }, (_, j) => (j * 11 + 5) % V);
  const mask = Float32Array.from({ length: N }, (_, j) => (j % 4 === 0 || j === 7 ? 0 : 1));
  const targets = tf.tensor1d(targetIds, 'int32');
  const w = tf.tensor1d(maskWeights(mask));

  it('activeRows lists the rows with non-zero weight', () => {
    expect(Array.from(activeRows(Float32Array.of(0, 0.5, 0, 0.25, 0.25)))).toEqual([1, 3, 4]);
    expect(activeRows(new Float32Array(3)).length).toBe(0);
  });

  it('smoothedCrossEntropy: value and logit gradient equal the autodiff formula', async () => {
    const logits = tf.matMul(x, wte, false, true);
    const refG = tf.valueAndGrad((z: tf.Tensor) => referenceLoss(z as tf.Tensor2D, targets, w, 0.1))(logits);
    let rows: tf.Tensor1D | null = null;
    const gotG = tf.valueAndGrad((z: tf.Tensor) => smoothedCrossEntropy(z as tf.Tensor2D, targets, w, 0.1, (r) => { rows = r; }))(logits);
    expect(relErr(await gotG.value.data(), await refG.value.data())).toBeLessThan(1e-5);
    expect(relErr(await gotG.grad.data(), await refG.grad.data())).toBeLessThan(1e-5);
    expect((await rows!.sum().data())[0]).toBeCloseTo((await refG.value.data())[0], 5);
    tf.dispose([logits, refG.value, refG.grad, gotG.value, gotG.grad, rows!]);
  });

  for (const transposedCopies of [true, false]) {
    it(`tiedHeadLoss (transposedCopies ${transposedCopies}): value and ∂/∂x equal the head + loss by autodiff`, async () => {
      const ref = tf.valueAndGrad((h: tf.Tensor) => referenceLoss(tf.matMul(h as tf.Tensor2D, wte, false, true), targets, w, 0.1))(x);
      let rows: tf.Tensor1D | null = null;
      const got = tf.valueAndGrad((h: tf.Tensor) => tiedHeadLoss(h as tf.Tensor2D, wte, targets, w, 0.1, { transposedCopies, rowSink: (r) => { rows = r; } }))(x);
      expect(relErr(await got.value.data(), await ref.value.data())).toBeLessThan(1e-5);
      const g = await got.grad.data();
      expect(relErr(g, await ref.grad.data())).toBeLessThan(1e-5);
      // Rows without weight get no gradient.
      for (let j = 0; j < N; j++) if (mask[j] === 0) for (let k = 0; k < d; k++) expect(Math.abs(g[j * d + k])).toBe(0);
      expect(rows!.shape).toEqual([N]);
      tf.dispose([ref.value, ref.grad, got.value, got.grad, rows!]);
    });
  }

  it('the masked rows alone (gatherRows) give the same loss and gradient as all rows with zero weights', async () => {
    const idx = activeRows(maskWeights(mask));
    const index = tf.tensor1d(idx, 'int32');
    const sub = (a: ArrayLike<number>) => Array.from(idx, (j) => a[j]);
    const tSub = tf.tensor1d(Int32Array.from(sub(targetIds)), 'int32');
    const wSub = tf.tensor1d(Float32Array.from(sub(maskWeights(mask))));
    const all = tf.valueAndGrad((h: tf.Tensor) => tiedHeadLoss(h as tf.Tensor2D, wte, targets, w, 0.1))(x);
    const masked = tf.valueAndGrad((h: tf.Tensor) => tiedHeadLoss(gatherRows(h as tf.Tensor2D, index), wte, tSub, wSub, 0.1))(x);
    expect(masked.grad.shape).toEqual([N, d]);
    expect(relErr(await masked.value.data(), await all.value.data())).toBeLessThan(1e-5);
    expect(relErr(await masked.grad.data(), await all.grad.data())).toBeLessThan(1e-5);
    tf.dispose([index, tSub, wSub, all.value, all.grad, masked.value, masked.grad]);
  });

  it('tiedHeadNll and nllSum equal −log softmax at the targets', async () => {
    const logits = tf.matMul(x, wte, false, true);
    const want = (await tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(targets, V)), -1)).data()) as Float32Array;
    for (const copies of [true, false]) expect(relErr(await tiedHeadNll(x, wte, targets, copies).data(), want)).toBeLessThan(1e-5);
    const r = nllSum(logits as tf.Tensor2D, targets, tf.tensor1d(mask));
    const wantSum = want.reduce((s, v, j) => s + v * mask[j], 0);
    expect(Math.abs((await r.nll.data())[0] - wantSum) / wantSum).toBeLessThan(1e-5);
    expect((await r.count.data())[0]).toBe(mask.reduce((s, v) => s + v, 0));
    tf.dispose([logits, r.nll, r.count]);
  });

  it('runs without leaking tensors', () => {
    const before = tf.memory().numTensors;
    const g = tf.grads((h: tf.Tensor) => tiedHeadLoss(h as tf.Tensor2D, wte, targets, w, 0.1, { transposedCopies: false }))([x]);
    tf.dispose(g);
    expect(tf.memory().numTensors).toBe(before);
  });
});
