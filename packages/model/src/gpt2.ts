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
}

function param(w: Weights, name: string): tf.Tensor {
  const t = w[name];
  if (!t) throw new Error(`model: missing weight "${name}"`);
  return t;
}

export function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor2D {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** GPT-2's tanh approximation (wasm has no Erf kernel, and this is what GPT-2 was trained with). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

// Base weights are frozen, so backward needs only dX = dY·Wᵀ. tfjs would compute it as a matMul
// with transposeB, which wasm runs 8–20× slower than the same product on a pre-transposed matrix;
// so keep one transposed copy per frozen weight and write the gradient by hand.
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

/** x [N, in] @ W [in, out] with W frozen; wT is W's transpose [out, in]. */
function frozenMatMul(x: tf.Tensor2D, W: tf.Tensor2D, wT: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((input) => ({
    value: tf.matMul(input as tf.Tensor2D, W),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, wT),
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * Conv1D: x [N, in] @ W [in, out] + b, plus the LoRA delta of `target` in block i if it has one.
 * `site` names the module input, so adapters that share an input share its dropout mask.
 */
function linear(w: Weights, i: number, module: string, target: LoraTarget, x: tf.Tensor2D, opts: BlockOptions, site: string): tf.Tensor2D {
  const W = param(w, `h.${i}.${module}.weight`) as tf.Tensor2D;
  const y = tf.add(frozenMatMul(x, W, transposeOf(W)), param(w, `h.${i}.${module}.bias`)) as tf.Tensor2D;
  const delta = opts.lora ? loraDelta(opts.lora, i, target, x, opts.dropout, site) : null;
  return delta ? tf.add(y, delta) : y;
}

/** Additive causal mask [T, P+T]: query i (absolute P+i) may see keys 0..P+i. */
function causalMask(T: number, P: number): tf.Tensor2D {
  const m = new Float32Array(T * (P + T));
  for (let i = 0; i < T; i++) for (let j = P + i + 1; j < P + T; j++) m[i * (P + T) + j] = -1e9;
  return tf.tensor2d(m, [T, P + T]);
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
  const scores = tf.add(tf.mul(tf.matMul(heads(q), kh, false, true), 1 / Math.sqrt(hd)), causalMask(T, P)); // [B, H, T, P+T]
  const y = tf.matMul(tf.softmax(scores), vh); // [B, H, T, hd]
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

/** Final LayerNorm and the LM head tied to wte: [N, d] → logits [N, V] (forward x·wteᵀ, backward dy·wte). */
export function lmHead(cfg: GPT2Config, w: Weights, h: tf.Tensor2D): tf.Tensor2D {
  const x = layerNorm(h, param(w, 'ln_f.weight'), param(w, 'ln_f.bias'), cfg.layerNormEps);
  const wte = param(w, 'wte.weight') as tf.Tensor2D;
  return frozenMatMul(x, transposeOf(wte), wte);
}
