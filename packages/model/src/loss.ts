// Completion-only cross-entropy with label smoothing, as SplitLoRA computes it:
//   loss_i = (1-ε)·(−log p[target_i]) + ε·mean_v(−log p_v),   loss = Σ loss_i·w_i
// where w = mask / Σmask for one batch. With lse_i = log Σ_v exp z_iv this is
//   loss_i = lse_i − (1−ε)·z[i, target_i] − ε·mean_v z_iv,
// and ∂loss/∂z = (softmax − (1−ε)·onehot − ε/V)·w. Gradients are written by hand (tf.customGrad):
// no gather gradient (UnsortedSegmentSum, missing on wasm, buggy on WebGPU) and no dense one-hot.
// The [N, V] logits are the biggest tensors of small models, so every pass over them counts.
import * as tf from '@tensorflow/tfjs';
import { matmulOperand, tiedLogits } from './gpt2';

/** Per-row weights for one batch: mask / Σmask (all zeros if the mask is empty). */
export function maskWeights(mask: Float32Array): Float32Array {
  let sum = 0;
  for (const m of mask) sum += m;
  const w = new Float32Array(mask.length);
  if (sum > 0) for (let j = 0; j < mask.length; j++) w[j] = mask[j] / sum;
  return w;
}

/** Indices of the rows with a non-zero weight (the rows the loss covers). */
export function activeRows(w: Float32Array): Int32Array {
  let m = 0;
  for (const x of w) if (x !== 0) m++;
  const idx = new Int32Array(m);
  m = 0;
  for (let j = 0; j < w.length; j++) if (w[j] !== 0) idx[m++] = j;
  return idx;
}

/** z[i, targets_i] of z [N, V], forward only: a gather on the flattened matrix. */
function atTargets(z: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const [N, V] = z.shape;
  const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), targets); // row·V + target
  return tf.gather(tf.reshape(z, [N * V]), flat) as tf.Tensor1D;
}

interface SoftmaxParts {
  /** softmax(z) [N, V]. */
  p: tf.Tensor2D;
  /** Smoothed per-row loss [N]. */
  rowLoss: tf.Tensor1D;
}

/**
 * softmax(z) in one kernel (wasm runs XNNPACK's, with a vectorised exp: 3× faster than tf.exp
 * alone there), then log Σ exp z = max z − log max p, which needs no exp and stays exact when
 * p[target] underflows (max p ≥ 1/V). Besides the softmax: three read-only passes over z and p.
 */
function smoothedRows(z: tf.Tensor2D, targets: tf.Tensor1D, eps: number): SoftmaxParts {
  const p = tf.softmax(z) as tf.Tensor2D;
  const lse = tf.sub(tf.max(z, -1), tf.log(tf.max(p, -1)));
  const rowLoss = tf.sub(tf.sub(lse, tf.mul(1 - eps, atTargets(z, targets))), tf.mul(eps, tf.mean(z, -1))) as tf.Tensor1D;
  return { p, rowLoss };
}

/** −log p[target] per row of logits z [N, V], forward only. */
function rowNll(z: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const lse = tf.sub(tf.max(z, -1), tf.log(tf.max(tf.softmax(z), -1)));
    return tf.sub(lse, atTargets(z, targets)) as tf.Tensor1D;
  });
}

/** Row scales of the gradient for upstream dy: a = w·dy (softmax), b = ε/V·w·dy, c = (1−ε)·w·dy. */
function gradScales(w: tf.Tensor1D, dy: tf.Tensor, eps: number, V: number) {
  const wd = tf.mul(w, dy) as tf.Tensor1D;
  return { a: wd, b: tf.mul(wd, eps / V) as tf.Tensor1D, c: tf.mul(wd, 1 - eps) as tf.Tensor1D };
}

/**
 * Weighted, smoothed cross-entropy of logits [N, V] against targets [N] (int32), rows weighted
 * by w [N]. Returns a scalar whose gradient w.r.t. logits is (softmax − (1−ε)·onehot − ε/V)·w.
 */
export function smoothedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, w: tf.Tensor1D, smoothing: number, rowSink?: (weightedRows: tf.Tensor1D) => void): tf.Scalar {
  const eps = smoothing;
  const [N, V] = logits.shape;
  const f = tf.customGrad((x, save) => {
    const { p, rowLoss } = smoothedRows(x as tf.Tensor2D, targets, eps);
    (save as tf.GradSaveFunc)([p]);
    const weighted = tf.mul(rowLoss, w) as tf.Tensor1D;
    // Callers that batch several clients read each one's share of the loss from here.
    if (rowSink) rowSink(tf.keep(weighted.clone()));
    const gradFunc = (dy: tf.Tensor, [pSaved]: tf.Tensor[]) => {
      const { a, b, c } = gradScales(w, dy, eps, V);
      const dense = tf.sub(tf.mul(pSaved, tf.expandDims(a, 1)), tf.expandDims(b, 1)) as tf.Tensor2D;
      // The one-hot term touches one entry per row: update those in place of a dense one-hot.
      const at = tf.stack([tf.range(0, N, 1, 'int32'), targets], 1) as tf.Tensor2D; // [N, 2]
      return tf.tensorScatterUpdate(dense, at, tf.sub(atTargets(dense, targets), c));
    };
    return { value: tf.sum(weighted) as tf.Scalar, gradFunc };
  });
  return f(logits) as tf.Scalar;
}

/**
 * The tied LM head and the smoothed loss in one step: x [M, d] (after ln_f) → Σ loss_i·w_i.
 * Backward never forms ∂loss/∂logits: with z = x·wteᵀ,
 *   ∂loss/∂x = a ⊙ (softmax(z)·wte) − b ⊗ Σ_v wte_v − c ⊙ wte[targets]
 * (row scales a, b, c as in gradScales), so the only [M, V] work in backward is one matmul.
 * `rowSink` receives the weighted per-row losses [M].
 */
export function tiedHeadLoss(x: tf.Tensor2D, wte: tf.Tensor2D, targets: tf.Tensor1D, w: tf.Tensor1D, smoothing: number, opts: { transposedCopies?: boolean; transientPacks?: boolean; rowSink?: (weightedRows: tf.Tensor1D) => void } = {}): tf.Scalar {
  const eps = smoothing;
  const V = wte.shape[0];
  const f = tf.customGrad((input, save) => {
    const z = tiedLogits(input as tf.Tensor2D, wte, opts.transposedCopies ?? true);
    const { p, rowLoss } = smoothedRows(z, targets, eps);
    z.dispose();
    (save as tf.GradSaveFunc)([p]);
    const weighted = tf.mul(rowLoss, w) as tf.Tensor1D;
    if (opts.rowSink) opts.rowSink(tf.keep(weighted.clone()));
    const gradFunc = (dy: tf.Tensor, [pSaved]: tf.Tensor[]) => {
      const { a, b, c } = gradScales(w, dy, eps, V);
      const wteOperand = matmulOperand(wte, opts.transientPacks ?? false);
      const softmaxPart = tf.mul(tf.matMul(pSaved as tf.Tensor2D, wteOperand), tf.expandDims(a, 1));
      const colSum = tf.matMul(tf.ones([1, V]), wteOperand); // [1, d]: Σ_v wte_v, on the operand already packed
      const uniformPart = tf.mul(tf.expandDims(b, 1), colSum);
      const targetPart = tf.mul(tf.gather(wte, targets), tf.expandDims(c, 1));
      return tf.sub(tf.sub(softmaxPart, uniformPart), targetPart);
    };
    return { value: tf.sum(weighted) as tf.Scalar, gradFunc };
  });
  return f(x) as tf.Scalar;
}

/** −log p[target] per row [M] of the tied head on x [M, d] (after ln_f), forward only. */
export function tiedHeadNll(x: tf.Tensor2D, wte: tf.Tensor2D, targets: tf.Tensor1D, transposedCopies = true): tf.Tensor1D {
  return tf.tidy(() => rowNll(tiedLogits(x, wte, transposedCopies), targets));
}

/** Σ −log p[target]·mask and Σ mask, without smoothing: for token-weighted evaluation. */
export function nllSum(logits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D): { nll: tf.Scalar; count: tf.Scalar } {
  return tf.tidy(() => ({ nll: tf.sum(tf.mul(rowNll(logits, targets), mask)) as tf.Scalar, count: tf.sum(mask) as tf.Scalar }));
}
