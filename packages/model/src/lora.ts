// LoRA as SplitLoRA uses it: delta = dropout(x) @ A @ B · alpha/r on selected Conv1D modules.
// Internal layout: A [d_in, r], B [r, d_out], keys "h.{i}.{target}.lora_A" / ".lora_B".
// q/k/v adapters act on d-wide slices of the fused c_attn output; "c_attn" adapts all of it.
import * as tf from '@tensorflow/tfjs';
import { hashString, sfc32, type TensorRecord } from '@splitlora/tensor';
import type { GPT2Config } from './config';
import { loraDims, loraKey, type LoraConfig, type LoraTarget } from './checkpoint/lora-types';

export { loraKey, type LoraConfig, type LoraTarget };

export const DEFAULT_LORA: LoraConfig = { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };

/** Adapter tensors (tf.Variables when training, plain tensors inside tf.grads) plus their config. */
export interface Lora {
  cfg: LoraConfig;
  params: Record<string, tf.Tensor>;
}

/** Dropout on the LoRA input while training. The seed makes masks reproducible, so a client can
 * recompute its forward pass for backward with the same masks. */
export interface LoraDropout {
  p: number;
  seed: number;
  /**
   * Row of the step's batch where this x starts (micro-batches): the masks are rows of the masks
   * of the whole batch, so splitting a batch changes nothing.
   */
  rowOffset?: number;
  /**
   * Rows from several clients' steps packed into one batch (the U-shaped server), each with its own
   * seed: segment j covers `batch` sequences of `seqLen` real positions, padded to `paddedLen`. Its
   * masks are those of that step alone (rowOffset 0, no padding), so packing changes nothing.
   * `seed` is then unused.
   */
  segments?: { seed: number; batch: number; seqLen: number; paddedLen: number }[];
}

/** Expected adapter tensor shapes for blocks [from, to). */
export function loraShapes(cfg: GPT2Config, lora: LoraConfig, from: number, to: number): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (let i = from; i < to; i++) {
    for (const t of lora.targets) {
      const [din, dout] = loraDims(t, cfg.nEmbd);
      shapes[loraKey(i, t, 'A')] = [din, lora.r];
      shapes[loraKey(i, t, 'B')] = [lora.r, dout];
    }
  }
  return shapes;
}

/** A kaiming-uniform (bound 1/√d_in, as PEFT's init reduces to), B zero: the adapter starts as a no-op. */
export function initLora(cfg: GPT2Config, lora: LoraConfig, from: number, to: number, seed: number): TensorRecord {
  const out: TensorRecord = {};
  for (const [name, shape] of Object.entries(loraShapes(cfg, lora, from, to))) {
    // One stream per tensor: a client's blocks get the same init as the same blocks of the whole model.
    const rand = sfc32(hashString(`lora:${seed}:${name}`));
    const data = new Float32Array(shape[0] * shape[1]);
    if (name.endsWith('A')) {
      const bound = 1 / Math.sqrt(shape[0]);
      for (let j = 0; j < data.length; j++) data[j] = (2 * (rand() / 4294967296) - 1) * bound;
    }
    out[name] = { shape, data };
  }
  return out;
}

// Deterministic per-site seeds: the same (step seed, block, site) always gives the same mask.
function siteSeed(seed: number, block: number, site: string): number {
  let h = (seed ^ 0x9e3779b9) + block * 0x85ebca6b;
  for (let j = 0; j < site.length; j++) h = Math.imul(h ^ site.charCodeAt(j), 0x01000193);
  return (h >>> 0) % 2147483647;
}

/**
 * 32-bit mix (lowbias32's shape, multipliers below 2³¹): the torch engine computes the same bits
 * with int64 tensor ops, where every product stays below 2⁶³.
 */
function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x21f0aaad) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x735a2d97) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
}

/**
 * Keep bits of rows [startRow, startRow + rows) × cols of the stream `seed`, counter-based (row r
 * needs no draw of rows before it, so any engine computes any rows, in any order):
 *   k = mix(seed ^ 0x5f356495), rowKey(r) = mix(mix(r + k) ^ k), h(r, c) = mix(rowKey(r) + c),
 *   keep iff h ≥ ⌊p·2³²⌋ (all mod 2³²).
 * One mix per element keeps the torch engine's int32 version cheap (~0.1 s for 8192×768 on a core).
 */
export function dropoutKeepBits(seed: number, p: number, startRow: number, rows: number, cols: number): Uint8Array {
  const k = mix32((seed ^ 0x5f356495) >>> 0);
  const threshold = Math.floor(p * 4294967296);
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const rowKey = mix32((mix32((startRow + r + k) >>> 0) ^ k) >>> 0);
    for (let c = 0; c < cols; c++) out[r * cols + c] = mix32((rowKey + c) >>> 0) >= threshold ? 1 : 0;
  }
  return out;
}

/** Inverted-dropout mask of rows [startRow, startRow + rows) of the stream `seed`: 1/(1−p) where kept, else 0. */
function streamMask(seed: number, p: number, startRow: number, rows: number, cols: number, into: Float32Array, at: number): void {
  const scale = Math.fround(1 / (1 - p));
  const keep = dropoutKeepBits(seed, p, startRow, rows, cols);
  for (let j = 0; j < keep.length; j++) into[at + j] = keep[j] ? scale : 0;
}

function dropoutMask(x: tf.Tensor2D, d: LoraDropout, block: number, site: string): tf.Tensor2D {
  const [n, cols] = x.shape;
  const off = d.rowOffset ?? 0;
  const mask = new Float32Array(n * cols);
  if (d.segments) {
    // Each segment's own stream over its B·Tc real rows; padding rows get ones (they are never read).
    let row = 0; // row of the packed batch where the current segment starts
    for (const g of d.segments) {
      const seed = siteSeed(g.seed, block, site);
      for (let b = 0; b < g.batch; b++) {
        for (let t = 0; t < g.paddedLen; t++, row++) {
          if (row < off || row >= off + n) continue;
          const at = (row - off) * cols;
          if (t < g.seqLen) streamMask(seed, d.p, b * g.seqLen + t, 1, cols, mask, at);
          else mask.fill(1, at, at + cols);
        }
      }
    }
    if (row < off + n) throw new Error(`lora: dropout segments cover ${row} rows, the input needs ${off + n}`);
  } else {
    // Rows [off, off+n) of the whole batch's stream, so micro-batches get the whole batch's masks.
    streamMask(siteSeed(d.seed, block, site), d.p, off, n, cols, mask, 0);
  }
  return tf.tensor2d(mask, [n, cols]);
}

/**
 * The adapter's contribution for `target` in block i, or null if it has none. x is [N, d_in].
 * delta = (x⊙mask)·A·B·scale with a hand-written gradient: it keeps x⊙mask and x⊙mask·A [N, r]
 * for backward instead of every intermediate (tfjs keeps all of a tape's tensors to its end).
 */
export function loraDelta(lora: Lora, block: number, target: LoraTarget, x: tf.Tensor2D, dropout: LoraDropout | null | undefined, site: string): tf.Tensor2D | null {
  const A = lora.params[loraKey(block, target, 'A')];
  if (!A) return null;
  const B = lora.params[loraKey(block, target, 'B')];
  const scale = lora.cfg.alpha / lora.cfg.r;
  const mask = dropout && dropout.p > 0 ? tf.tidy(() => dropoutMask(x, dropout, block, site)) : null;
  const f = tf.customGrad((xi, ai, bi, save) => {
    const [xs, a, b] = [xi, ai, bi] as tf.Tensor2D[];
    const input = mask ? (tf.mul(xs, mask) as tf.Tensor2D) : xs;
    const h = tf.matMul(input, a); // [N, r]
    // The mask is made outside and would be freed with the forward scope: save it too.
    (save as tf.GradSaveFunc)(mask ? [input, h, a, b, mask] : [input, h, a, b]);
    return {
      value: tf.mul(tf.matMul(h, b), scale),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [inp, hs, as, bs, m] = saved as tf.Tensor2D[];
        const dys = tf.mul(dy, scale) as tf.Tensor2D;
        const dh = tf.matMul(dys, bs, false, true); // [N, r]
        const dInput = tf.matMul(dh, as, false, true);
        return [m ? tf.mul(dInput, m) : dInput, tf.matMul(inp, dh, true, false), tf.matMul(hs, dys, true, false)];
      },
    };
  });
  return f(x, A, B) as tf.Tensor2D;
}

/** Folds the adapter into a copy of the base weights: W' = W + A·B·alpha/r (used to check outputs). */
export function mergeLora(cfg: GPT2Config, weights: Record<string, tf.Tensor>, lora: Lora): Record<string, tf.Tensor> {
  const out = { ...weights };
  const d = cfg.nEmbd;
  const scale = lora.cfg.alpha / lora.cfg.r;
  for (const name of Object.keys(lora.params)) {
    const m = /^h\.(\d+)\.(.+)\.lora_A$/.exec(name);
    if (!m) continue;
    const i = Number(m[1]);
    const target = m[2] as LoraTarget;
    const delta = tf.mul(tf.matMul(lora.params[name] as tf.Tensor2D, lora.params[loraKey(i, target, 'B')] as tf.Tensor2D), scale);
    const slice = { q: 0, k: 1, v: 2 }[target as 'q' | 'k' | 'v'];
    const module = slice === undefined ? (target === 'c_attn' ? 'attn.c_attn' : target) : 'attn.c_attn';
    const key = `h.${i}.${module}.weight`;
    const padded = slice === undefined ? delta : tf.pad(delta, [[0, 0], [slice * d, (2 - slice) * d]]);
    out[key] = tf.add(out[key], padded);
  }
  return out;
}
