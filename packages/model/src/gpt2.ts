// GPT-2 in plain tfjs ops, read top-down: LayerNorm → attention → MLP → block → embeddings → head.
// Parameters are looked up by their Hugging Face names ("h.0.attn.c_attn.weight"), so loading,
// splitting by layer and adapter export are all name lookups. Matmuls run on [B·T, d] rows
// (tfjs#8721: BatchMatMul's gradient is wrong for 3-D × 2-D products).
import * as tf from '@tensorflow/tfjs';
import type { GPT2Config } from './config';
import { loraDelta, type Lora, type LoraDropout, type LoraTarget } from './lora';

/** Frozen base weights keyed by Hugging Face name (Conv1D layout [in, out]). */
export type Weights = Record<string, tf.Tensor>;

/** Per-layer attention cache for incremental decoding: keys and values [B, H, P, hd]. */
export interface LayerCache {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

export interface BlockOptions {
  lora?: Lora;
  /** LoRA dropout while training; null or absent at inference. */
  dropout?: LoraDropout | null;
  /** Incremental decoding: one cache entry per block in the range, updated in place. */
  cache?: LayerCache[];
  /** Keep a transposed copy of each frozen weight for backward (see resolveTransposedCopies); default true. */
  transposedCopies?: boolean;
  /** Feed matmuls a fresh copy of each frozen weight (see resolveTransientPacks); default false. */
  transientPacks?: boolean;
}

function param(w: Weights, name: string): tf.Tensor {
  const t = w[name];
  if (!t) throw new Error(`model: missing weight "${name}"`);
  return t;
}

// LayerNorm and GELU carry hand-written gradients with respect to their input only (their own
// weights are frozen). Autodiff would keep 5–8 intermediates per call for backward; these keep one
// tensor of the input's size, which at GPT-2 M scale is the difference between fitting wasm's 4 GB
// or not.

/** (x − mean) / √(var + eps) · g + b over the last axis; x [N, d]. */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor2D {
  const f = tf.customGrad((inp, save) => {
    const input = inp as tf.Tensor2D;
    const xc = tf.sub(input, tf.mean(input, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // [N, 1]
    const xhat = tf.mul(xc, rstd);
    (save as tf.GradSaveFunc)([xhat, rstd]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, [xh, r]: tf.Tensor[]) => {
        // dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), ĝ = dy ⊙ g
        const gh = tf.mul(dy, g);
        return tf.mul(tf.sub(tf.sub(gh, tf.mean(gh, -1, true)), tf.mul(xh, tf.mean(tf.mul(gh, xh), -1, true))), r);
      },
    };
  });
  return f(x) as tf.Tensor2D;
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** GPT-2's tanh approximation (wasm has no Erf kernel, and this is what GPT-2 was trained with). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((inp, save) => {
    const input = inp as tf.Tensor;
    (save as tf.GradSaveFunc)([input]);
    const x2 = tf.square(input);
    const t = tf.tanh(tf.mul(tf.mul(input, tf.add(1, tf.mul(GELU_C, x2))), GELU_K));
    return {
      value: tf.mul(tf.mul(0.5, input), tf.add(1, t)),
      gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => {
        // d/dx 0.5·x·(1 + tanh u) = 0.5·(1 + t) + 0.5·x·(1 − t²)·k·(1 + 3c·x²), recomputed from x
        const sq = tf.square(xs);
        const th = tf.tanh(tf.mul(tf.mul(xs, tf.add(1, tf.mul(GELU_C, sq))), GELU_K));
        const du = tf.mul(GELU_K, tf.add(1, tf.mul(3 * GELU_C, sq)));
        const grad = tf.mul(0.5, tf.add(tf.add(1, th), tf.mul(tf.mul(xs, tf.sub(1, tf.square(th))), du)));
        return tf.mul(dy, grad);
      },
    };
  });
  return f(x);
}

// Base weights are frozen, so backward needs only dX = dY·Wᵀ. tfjs would compute it as a matMul
// with transposeB, which wasm runs ≈10× slower than the same product on a transposed matrix (its
// fast XNNPACK path takes untransposed 2-D operands only). With `transposedCopies` each frozen
// weight keeps one transposed copy, made on first use; without, wasm transposes W for each backward
// (a temporary) and other backends use transposeB, which they run natively.
const transposed = new WeakMap<tf.Tensor, tf.Tensor2D>();

function transposeOf(w: tf.Tensor): tf.Tensor2D {
  let t = transposed.get(w);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.transpose(w) as tf.Tensor2D);
    transposed.set(w, t);
  }
  return t;
}

/** Frees the transposed copy of `w`, if one was made (disposeWeights calls this). */
export function releaseTransposed(w: tf.Tensor): void {
  transposed.get(w)?.dispose();
  transposed.delete(w);
}

/** Bytes of the transposed copies made so far of `weights` (for memory reports). */
export function transposedBytes(weights: Weights): number {
  let bytes = 0;
  for (const w of Object.values(weights)) {
    const t = transposed.get(w);
    if (t && !t.isDisposed) bytes += t.size * 4;
  }
  return bytes;
}

/**
 * Frozen weights at most this large (F32 bytes, per model part) keep transposed copies under
 * 'auto': the small presets and a GPT-2 S server at cut ≥ 3 (390 MiB), not the whole GPT-2 S
 * (471 MiB) nor anything of GPT-2 M. Measured on the whole GPT-2 S at 8×128: copies made the step
 * 1.3× faster and took the wasm heap from 1.9–2.5 GiB to 3.0–3.5 GiB of its 4.
 */
export const AUTO_COPIES_MAX_BYTES = 400 * 2 ** 20;

/**
 * Whether a model part keeps transposed copies of its frozen weights. 'auto': only on wasm (the one
 * backend where transposeB is slow), and only while the part's frozen matmul weights stay within
 * AUTO_COPIES_MAX_BYTES: a copy doubles them, and wasm's XNNPACK keeps a packed copy of each matmul
 * operand too (W and Wᵀ both), so with copies a part holds ≈4× its weights in a 4 GB address space.
 */
export function resolveTransposedCopies(setting: boolean | 'auto' | undefined, frozenBytes: number, backend: string = tf.getBackend()): boolean {
  if (setting === true || setting === false) return setting;
  return backend === 'wasm' && frozenBytes <= AUTO_COPIES_MAX_BYTES;
}

/** Frozen parts of at least this size (F32 bytes) use transient packs under 'auto' (a GPT-2 M server: 1.1 GB). */
export const AUTO_TRANSIENT_PACKS_MIN_BYTES = 768 * 2 ** 20;

/**
 * Whether a part's matmuls get a fresh copy of each frozen weight. wasm's XNNPACK keeps a packed
 * copy of every matmul operand for as long as that tensor lives, which doubles the weights for
 * good; a per-use copy frees it after each use, for one weight copy per matmul. 'auto': on wasm,
 * without transposed copies, for parts of at least AUTO_TRANSIENT_PACKS_MIN_BYTES.
 */
export function resolveTransientPacks(setting: boolean | 'auto' | undefined, frozenBytes: number, transposedCopies: boolean, backend: string = tf.getBackend()): boolean {
  if (setting === true || setting === false) return setting;
  return backend === 'wasm' && !transposedCopies && frozenBytes >= AUTO_TRANSIENT_PACKS_MIN_BYTES;
}

/** W, or with transient packs a fresh copy of it, whose XNNPACK packing is freed with it. */
export function matmulOperand(W: tf.Tensor2D, transientPacks: boolean): tf.Tensor2D {
  return transientPacks ? (tf.mul(W, 1) as tf.Tensor2D) : W;
}

/** dY [N, out] · Wᵀ for a frozen W [in, out], the input gradient of x·W. */
function timesTransposed(dy: tf.Tensor2D, W: tf.Tensor2D, copies: boolean): tf.Tensor2D {
  if (copies) return tf.matMul(dy, transposeOf(W));
  if (tf.getBackend() === 'wasm') return tf.tidy(() => tf.matMul(dy, tf.transpose(W) as tf.Tensor2D));
  return tf.matMul(dy, W, false, true);
}

/** x [N, in] @ W [in, out] + bias with W and bias frozen (one fused kernel; no weight gradient). */
function frozenLinear(x: tf.Tensor2D, W: tf.Tensor2D, bias: tf.Tensor | null, copies: boolean, transientPacks: boolean): tf.Tensor2D {
  const f = tf.customGrad((input) => ({
    value: bias ? tf.fused.matMul({ a: input as tf.Tensor2D, b: matmulOperand(W, transientPacks), bias }) : tf.matMul(input as tf.Tensor2D, matmulOperand(W, transientPacks)),
    gradFunc: (dy: tf.Tensor) => timesTransposed(dy as tf.Tensor2D, W, copies),
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * x [N, d] · wteᵀ → logits [N, V] for the tied head, forward only. With a copy, one matmul on the
 * cached wteᵀ; without, (wte · xᵀ)ᵀ, which transposes the [V, N] result instead of the [V, d]
 * weight (cheaper while N < 2d, and wte is already packed as the backward's operand).
 */
export function tiedLogits(x: tf.Tensor2D, wte: tf.Tensor2D, copies: boolean): tf.Tensor2D {
  if (copies) return tf.matMul(x, transposeOf(wte));
  if (tf.getBackend() !== 'wasm') return tf.matMul(x, wte, false, true);
  return tf.tidy(() => tf.transpose(tf.matMul(wte, tf.transpose(x) as tf.Tensor2D)) as tf.Tensor2D);
}

/**
 * Conv1D: x [N, in] @ W [in, out] + b, plus the LoRA delta of `target` in block i if it has one.
 * `site` names the module input, so adapters that share an input share its dropout mask.
 */
function linear(w: Weights, i: number, module: string, target: LoraTarget, x: tf.Tensor2D, opts: BlockOptions, site: string): tf.Tensor2D {
  const W = param(w, `h.${i}.${module}.weight`) as tf.Tensor2D;
  const y = frozenLinear(x, W, param(w, `h.${i}.${module}.bias`), opts.transposedCopies ?? true, opts.transientPacks ?? false);
  const delta = opts.lora ? loraDelta(opts.lora, i, target, x, opts.dropout, site) : null;
  return delta ? tf.add(y, delta) : y;
}

/** Additive causal mask [T, P+T]: query i (absolute P+i) may see keys 0..P+i. */
export function causalMask(T: number, P: number): tf.Tensor2D {
  const m = new Float32Array(T * (P + T));
  for (let i = 0; i < T; i++) for (let j = P + i + 1; j < P + T; j++) m[i * (P + T) + j] = -1e9;
  return tf.tensor2d(m, [T, P + T]);
}

/**
 * softmax(q·kᵀ·scale + mask)·v: q [B, H, T, hd], k and v [B, H, S, hd], mask [T, S] → [B, H, T, hd].
 * Hand-written gradient: backward keeps q, k, v and the probabilities, and nothing else.
 */
export function attentionCore(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D, scale: number): tf.Tensor4D {
  const f = tf.customGrad((qi, ki, vi, save) => {
    const [Q, K, Vv] = [qi, ki, vi] as tf.Tensor4D[];
    const P = tf.softmax(tf.add(tf.mul(tf.matMul(Q, K, false, true), scale), mask)) as tf.Tensor4D; // [B, H, T, S]
    (save as tf.GradSaveFunc)([Q, K, Vv, P]);
    return {
      value: tf.matMul(P, Vv),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [q0, k0, v0, p0] = saved as tf.Tensor4D[];
        const dP = tf.matMul(dy as tf.Tensor4D, v0, false, true);
        const dS = tf.mul(tf.mul(p0, tf.sub(dP, tf.sum(tf.mul(dP, p0), -1, true))), scale) as tf.Tensor4D; // softmax backward
        return [tf.matMul(dS, k0), tf.matMul(dS, q0, true, false), tf.matMul(p0, dy as tf.Tensor4D, true, false)];
      },
    };
  });
  return f(q, k, v) as tf.Tensor4D;
}

function attention(cfg: GPT2Config, w: Weights, i: number, x: tf.Tensor2D, B: number, T: number, opts: BlockOptions, layer: number): tf.Tensor2D {
  const d = cfg.nEmbd;
  const H = cfg.nHead;
  const hd = d / H;
  const qkv = linear(w, i, 'attn.c_attn', 'c_attn', x, opts, 'attn_in'); // [N, 3d]
  let [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[]; // each [N, d]
  if (opts.lora) {
    // q/k/v adapters act on slices of the fused c_attn output.
    const add = (t: tf.Tensor2D, slice: LoraTarget) => {
      const delta = loraDelta(opts.lora!, i, slice, x, opts.dropout, 'attn_in');
      return delta ? (tf.add(t, delta) as tf.Tensor2D) : t;
    };
    q = add(q, 'q');
    k = add(k, 'k');
    v = add(v, 'v');
  }
  const heads = (t: tf.Tensor2D) => tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
  let kh = heads(k);
  let vh = heads(v);
  let P = 0;
  const cache = opts.cache?.[layer];
  if (cache) {
    P = cache.k.shape[2];
    const old = { ...cache };
    kh = tf.concat([cache.k, kh], 2);
    vh = tf.concat([cache.v, vh], 2);
    cache.k = tf.keep(kh);
    cache.v = tf.keep(vh);
    old.k.dispose();
    old.v.dispose();
  }
  const y = attentionCore(heads(q), kh, vh, causalMask(T, P), 1 / Math.sqrt(hd)); // [B, H, T, hd]
  const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
  return linear(w, i, 'attn.c_proj', 'attn.c_proj', merged, opts, 'proj_in');
}

function mlp(w: Weights, i: number, x: tf.Tensor2D, opts: BlockOptions): tf.Tensor2D {
  const h = geluTanh(linear(w, i, 'mlp.c_fc', 'mlp.c_fc', x, opts, 'fc_in')) as tf.Tensor2D; // [N, 4d]
  return linear(w, i, 'mlp.c_proj', 'mlp.c_proj', h, opts, 'fc_out');
}

/** Pre-LayerNorm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). x is [B·T, d]. */
export function block(cfg: GPT2Config, w: Weights, i: number, x: tf.Tensor2D, B: number, T: number, opts: BlockOptions, layer: number): tf.Tensor2D {
  const eps = cfg.layerNormEps;
  const a = attention(cfg, w, i, layerNorm(x, param(w, `h.${i}.ln_1.weight`), param(w, `h.${i}.ln_1.bias`), eps), B, T, opts, layer);
  const x1 = tf.add(x, a) as tf.Tensor2D;
  const m = mlp(w, i, layerNorm(x1, param(w, `h.${i}.ln_2.weight`), param(w, `h.${i}.ln_2.bias`), eps), opts);
  return tf.add(x1, m) as tf.Tensor2D;
}

/** Token + learned position embeddings. ids [B, T] int32 → [B·T, d]. No gradient flows here. */
export function embed(cfg: GPT2Config, w: Weights, ids: tf.Tensor2D, pastLen = 0): tf.Tensor2D {
  const [B, T] = ids.shape;
  if (pastLen + T > cfg.nPositions) throw new Error(`model: sequence of ${pastLen + T} tokens exceeds n_positions ${cfg.nPositions}`);
  const tok = tf.gather(param(w, 'wte.weight'), tf.reshape(ids, [B * T])); // [B·T, d]
  const pos = tf.slice(param(w, 'wpe.weight'), [pastLen, 0], [T, cfg.nEmbd]); // [T, d]
  return tf.reshape(tf.add(tf.reshape(tok, [B, T, cfg.nEmbd]), pos), [B * T, cfg.nEmbd]) as tf.Tensor2D;
}

/** Runs blocks [from, to) on x [B·T, d]. */
export function runBlocks(cfg: GPT2Config, w: Weights, x: tf.Tensor2D, B: number, T: number, from: number, to: number, opts: BlockOptions = {}): tf.Tensor2D {
  let h = x;
  for (let i = from; i < to; i++) h = block(cfg, w, i, h, B, T, opts, i - from);
  return h;
}

/**
 * runBlocks without gradients (inference, held-out loss, the client's forward): each block in its
 * own tidy, so only one block's intermediates are alive at a time instead of all of them.
 */
export function runBlocksNoGrad(cfg: GPT2Config, w: Weights, x: tf.Tensor2D, B: number, T: number, from: number, to: number, opts: BlockOptions = {}): tf.Tensor2D {
  let h = x;
  for (let i = from; i < to; i++) {
    const prev = h;
    h = tf.tidy(() => block(cfg, w, i, prev, B, T, opts, i - from));
    if (prev !== x) prev.dispose();
  }
  return h;
}

/** Final LayerNorm: [N, d] → [N, d]. Row-wise, so it commutes with selecting rows. */
export function finalNorm(cfg: GPT2Config, w: Weights, h: tf.Tensor2D): tf.Tensor2D {
  return layerNorm(h, param(w, 'ln_f.weight'), param(w, 'ln_f.bias'), cfg.layerNormEps);
}

/** The tied embedding matrix wte [V, d]. */
export function tiedEmbedding(w: Weights): tf.Tensor2D {
  return param(w, 'wte.weight') as tf.Tensor2D;
}

/** Final LayerNorm and the LM head tied to wte: [N, d] → logits [N, V] (forward x·wteᵀ, backward dy·wte). */
export function lmHead(cfg: GPT2Config, w: Weights, h: tf.Tensor2D, transposedCopies = true, transientPacks = false): tf.Tensor2D {
  const x = finalNorm(cfg, w, h);
  const wte = tiedEmbedding(w);
  const f = tf.customGrad((input) => ({
    value: tiedLogits(input as tf.Tensor2D, wte, transposedCopies),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, matmulOperand(wte, transientPacks)),
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * Rows `index` [M] (int32, distinct) of x [N, d] → [M, d]. Its gradient scatters back to [N, d]
 * (ScatterNd), because gather's own gradient (UnsortedSegmentSum) does not exist on wasm.
 */
export function gatherRows(x: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor2D {
  const [N, d] = x.shape;
  const f = tf.customGrad((input) => ({
    value: tf.gather(input as tf.Tensor2D, index),
    gradFunc: (dy: tf.Tensor) => tf.scatterND(tf.expandDims(index, 1), dy, [N, d]),
  }));
  return f(x) as tf.Tensor2D;
}
