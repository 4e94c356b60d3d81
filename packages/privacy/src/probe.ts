// A linear probe from cut activations back to the block-0 input (wte[v] + wpe[t]): the attacker fits
// it on rows of random token sequences that it runs through its own copy of the client blocks, so
// it needs no volunteer data. It only orders the candidates: every guess is still checked exactly.
import * as tf from '@tensorflow/tfjs';
import { makeRng } from '@splitlora/data';
import { embed, runBlocksNoGrad, type GPT2Config, type Lora, type Weights } from '@splitlora/model';

export interface Probe {
  /** [d+1, d]: the last row is the bias. */
  W: tf.Tensor2D;
}

/** Solves (A) X = B in place for a symmetric positive definite A [n, n] (Cholesky), B [n, m]; returns X. */
export function solveSpd(A: Float64Array, B: Float64Array, n: number, m: number): Float64Array {
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let k = 0; k < j; k++) s -= A[j * n + k] ** 2;
    if (!(s > 0)) throw new Error('probe: the normal equations are not positive definite');
    const ljj = Math.sqrt(s);
    A[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      for (let k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = t / ljj;
    }
  }
  // L y = B, then Lᵀ x = y, column block by row (B is row-major [n, m]).
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const l = A[i * n + k];
      if (l !== 0) for (let c = 0; c < m; c++) B[i * m + c] -= l * B[k * m + c];
    }
    const d = A[i * n + i];
    for (let c = 0; c < m; c++) B[i * m + c] /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const l = A[k * n + i];
      if (l !== 0) for (let c = 0; c < m; c++) B[i * m + c] -= l * B[k * m + c];
    }
    const d = A[i * n + i];
    for (let c = 0; c < m; c++) B[i * m + c] /= d;
  }
  return B;
}

/**
 * Ridge regression of wte[v] + wpe[t] on [h, 1] over `sequences` random sequences of `length`
 * tokens. Rows are clipped like the volunteer's when the clip is known.
 */
export async function fitProbe(config: GPT2Config, weights: Weights, cut: number, lora: Lora, opts: { sequences: number; length: number; seed: number; clip?: number }): Promise<Probe> {
  const { sequences: S, length: T } = opts;
  const d = config.nEmbd;
  const rand = makeRng(opts.seed ^ 0x70726f62);
  const ids = Int32Array.from({ length: S * T }, () => Math.floor(rand() * config.vocabSize));
  const [gram, cross] = tf.tidy(() => {
    const idsT = tf.tensor2d(ids, [S, T], 'int32');
    const x = embed(config, weights, idsT); // [S·T, d]
    let h = runBlocksNoGrad(config, weights, x, S, T, 0, cut, { lora, dropout: null, transposedCopies: false });
    if (opts.clip !== undefined) h = tf.mul(h, tf.minimum(1, tf.div(opts.clip, tf.norm(h, 2, 1, true)))) as tf.Tensor2D;
    const h1 = tf.concat([h, tf.ones([S * T, 1])], 1) as tf.Tensor2D; // [N, d+1]
    return [tf.matMul(h1, h1, true, false), tf.matMul(h1, x, true, false)]; // [d+1, d+1], [d+1, d]
  });
  const A = Float64Array.from((await gram.data()) as Float32Array);
  const B = Float64Array.from((await cross.data()) as Float32Array);
  tf.dispose([gram, cross]);
  const n = d + 1;
  let trace = 0;
  for (let i = 0; i < d; i++) trace += A[i * n + i];
  const lambda = 1e-3 * (trace / d) + 1e-12;
  for (let i = 0; i < n; i++) A[i * n + i] += lambda;
  const W = solveSpd(A, B, n, d);
  return { W: tf.tensor2d(Float32Array.from(W), [n, d]) };
}

/** The probe's estimate of the block-0 input for observed rows o [L, d] → [L, d]. */
export function applyProbe(probe: Probe, observed: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(tf.concat([observed, tf.ones([observed.shape[0], 1])], 1) as tf.Tensor2D, probe.W));
}
