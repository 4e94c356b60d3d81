// Completion-only cross-entropy with label smoothing, as SplitLoRA computes it:
//   loss_i = (1-ε)·(−log p[target_i]) + ε·mean_v(−log p_v),   loss = Σ loss_i·w_i
// where w = mask / Σmask for one batch. The gradient is written by hand (tf.customGrad) so that no
// gather gradient (UnsortedSegmentSum, missing on wasm, buggy on WebGPU) is ever taken.
import * as tf from '@tensorflow/tfjs';

/** Per-row weights for one batch: mask / Σmask (all zeros if the mask is empty). */
export function maskWeights(mask: Float32Array): Float32Array {
  let sum = 0;
  for (const m of mask) sum += m;
  const w = new Float32Array(mask.length);
  if (sum > 0) for (let j = 0; j < mask.length; j++) w[j] = mask[j] / sum;
  return w;
}

/** Row-wise −log p[target] of logits [N, V], forward only. */
function targetNll(logp: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const [N, V] = logp.shape;
  const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), targets); // row·V + target
  return tf.neg(tf.gather(tf.reshape(logp, [N * V]), flat)) as tf.Tensor1D;
}

/**
 * Weighted, smoothed cross-entropy of logits [N, V] against targets [N] (int32), rows weighted
 * by w [N]. Returns a scalar whose gradient w.r.t. logits is (softmax − (1−ε)·onehot − ε/V)·w.
 */
export function smoothedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, w: tf.Tensor1D, smoothing: number, rowSink?: (weightedRows: tf.Tensor1D) => void): tf.Scalar {
  const eps = smoothing;
  const V = logits.shape[1];
  const f = tf.customGrad((x, save) => {
    const logits2d = x as tf.Tensor2D;
    const logp = tf.logSoftmax(logits2d) as tf.Tensor2D;
    (save as tf.GradSaveFunc)([logp]);
    const nll = targetNll(logp, targets);
    const smooth = tf.neg(tf.mean(logp, -1));
    const rowLoss = tf.add(tf.mul(1 - eps, nll), tf.mul(eps, smooth));
    const weighted = tf.mul(rowLoss, w) as tf.Tensor1D;
    // Callers that batch several clients read each one's share of the loss from here.
    if (rowSink) rowSink(tf.keep(weighted.clone()));
    const value = tf.sum(weighted) as tf.Scalar;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      // Every op here runs over [N, V]; keep their number small (the head dominates small models).
      const scale = tf.expandDims(tf.mul(w, dy), 1); // [N, 1]
      const hot = tf.oneHot(targets, V, 1 - eps + eps / V, eps / V); // (1−ε)·onehot + ε/V
      return tf.mul(tf.sub(tf.exp(saved[0]), hot), scale);
    };
    return { value, gradFunc };
  });
  return f(logits) as tf.Scalar;
}

/** Σ −log p[target]·mask and Σ mask, without smoothing: for token-weighted evaluation. */
export function nllSum(logits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D): { nll: tf.Scalar; count: tf.Scalar } {
  return tf.tidy(() => {
    const nll = targetNll(tf.logSoftmax(logits) as tf.Tensor2D, targets);
    return { nll: tf.sum(tf.mul(nll, mask)) as tf.Scalar, count: tf.sum(mask) as tf.Scalar };
  });
}
