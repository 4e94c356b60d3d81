// Full-parameter training of a GPT-2 (pretraining): wte (tied to the head), wpe, every block and
// every LayerNorm. The forward is gpt2.ts's (same attention core, tanh GELU, pre-LN blocks on
// [B·T, d] rows); what differs is that every weight gets a gradient:
//  - Conv1D, LayerNorm and the tied head carry hand-written gradients for their weights too, with
//    explicit transposes so wasm runs every matmul on its fast untransposed path;
//  - the embedding lookup's gradient is accumulated by token id in JS (wasm has no
//    UnsortedSegmentSum, gather's gradient): one pass over ∂h, exact, and cheap next to the head.
// AdamW (decoupled decay on matrices only), warm-up then cosine or linear decay, global-norm
// clipping. Everything is deterministic, so a resumed run continues bit-exactly.
import * as tf from '@tensorflow/tfjs';
import type { TensorRecord } from '@splitlora/tensor';
import { AdamW, type AdamWConfig } from './adamw';
import type { GPT2Config } from './config';
import { attentionCore, causalMask, geluTanh } from './gpt2';
import type { TokenBatch } from './split';

export interface PretrainSettings {
  /** Total optimiser steps of the run (the schedule decays to its end). */
  steps: number;
  lr: number;
  warmup: number;
  schedule: 'cosine' | 'linear';
  /** The schedule ends at lr·minLrRatio. */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  clip: number;
}

export const PRETRAIN_DEFAULTS: Omit<PretrainSettings, 'steps'> = {
  lr: 3e-3,
  warmup: 100,
  schedule: 'cosine',
  minLrRatio: 0.1,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  clip: 1,
};

/** lr multiplier at (1-based) step t: linear warm-up to 1, then cosine or linear decay to minRatio at `total`. */
export function warmupDecay(kind: 'cosine' | 'linear', warmup: number, total: number, minRatio: number): (t: number) => number {
  return (t) => {
    if (warmup > 0 && t <= warmup) return t / warmup;
    if (total <= warmup) return 1;
    const progress = Math.min(1, (t - warmup) / (total - warmup));
    const decay = kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
    return minRatio + (1 - minRatio) * decay;
  };
}

/** Weight decay applies to matrices (embeddings and Conv1D weights), not to biases or LayerNorms. */
export function decays(name: string): boolean {
  return name === 'wte.weight' || name === 'wpe.weight' || /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
}

/**
 * Token + position embeddings with gradients for both: ids [B, T] → [B·T, d]. Backward reads ∂h
 * once and adds each row into its token's row of ∂wte and its position's row of ∂wpe.
 */
export function trainableEmbed(wte: tf.Tensor2D, wpe: tf.Tensor2D, ids: Int32Array, B: number, T: number): tf.Tensor2D {
  const [V, d] = wte.shape;
  const P = wpe.shape[0];
  if (T > P) throw new Error(`pretrain: sequence of ${T} tokens exceeds n_positions ${P}`);
  if (ids.length !== B * T) throw new Error(`pretrain: ${ids.length} ids for a [${B}, ${T}] batch`);
  for (const id of ids) if (!(id >= 0 && id < V)) throw new Error(`pretrain: token id ${id} is outside the vocabulary of ${V}`);
  const f = tf.customGrad((wteIn, wpeIn) => {
    const tok = tf.gather(wteIn as tf.Tensor2D, tf.tensor1d(ids, 'int32')); // [B·T, d]
    const pos = tf.tile(tf.slice(wpeIn as tf.Tensor2D, [0, 0], [T, d]), [B, 1]); // [B·T, d]
    return {
      value: tf.add(tok, pos),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const dWte = new Float32Array(V * d);
        const dWpe = new Float32Array(P * d);
        for (let row = 0; row < B * T; row++) {
          const src = row * d;
          const tokRow = ids[row] * d;
          const posRow = (row % T) * d;
          for (let j = 0; j < d; j++) {
            dWte[tokRow + j] += g[src + j];
            dWpe[posRow + j] += g[src + j];
          }
        }
        return [tf.tensor2d(dWte, [V, d]), tf.tensor2d(dWpe, [P, d])];
      },
    };
  });
  return f(wte, wpe) as tf.Tensor2D;
}

/** x [N, in] · W [in, out] + b with gradients for x, W and b. */
export function trainableLinear(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((xi, wi, bi, save) => {
    const [xs, ws] = [xi, wi] as tf.Tensor2D[];
    (save as tf.GradSaveFunc)([xs, ws]);
    return {
      value: tf.fused.matMul({ a: xs, b: ws, bias: bi as tf.Tensor1D }),
      gradFunc: (dy: tf.Tensor, [x0, w0]: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        const dx = tf.matMul(g, tf.transpose(w0) as tf.Tensor2D);
        const dw = tf.matMul(tf.transpose(x0) as tf.Tensor2D, g);
        return [dx, dw, tf.sum(g, 0)];
      },
    };
  });
  return f(x, W, b) as tf.Tensor2D;
}

/** LayerNorm over the last axis of x [N, d] with gradients for x, g and b. */
export function trainableLayerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = tf.customGrad((xi, gi, bi, save) => {
    const input = xi as tf.Tensor2D;
    const xc = tf.sub(input, tf.mean(input, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // [N, 1]
    const xhat = tf.mul(xc, rstd);
    (save as tf.GradSaveFunc)([xhat, rstd, gi as tf.Tensor]);
    return {
      value: tf.add(tf.mul(xhat, gi as tf.Tensor), bi as tf.Tensor),
      gradFunc: (dy: tf.Tensor, [xh, r, gs]: tf.Tensor[]) => {
        const gh = tf.mul(dy, gs);
        const dx = tf.mul(tf.sub(tf.sub(gh, tf.mean(gh, -1, true)), tf.mul(xh, tf.mean(tf.mul(gh, xh), -1, true))), r);
        return [dx, tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

/**
 * Σ_i w_i·(−log softmax(x_i·wteᵀ)[t_i]) for x [M, d] (after ln_f), with gradients for x and the
 * tied wte. With a_i = w_i·dy and P = softmax: ∂x = a⊙(P·wte − wte[t]), and
 * ∂wte = ((a⊙x)ᵀ·P)ᵀ − Σ_i a_i·x_i added into row t_i (the one-hot part, in JS). The [M, V]
 * matrices dominate the cost, so they are touched as few times as possible: the logits once (by
 * the softmax), P twice (by the two backward matmuls); the row scales go on the [M, d] side.
 * −log P[t] is clamped at P = 1e-37 (a loss of 85), where float32 would underflow.
 */
export function tiedLmLoss(x: tf.Tensor2D, wte: tf.Tensor2D, targets: Int32Array, w: Float32Array): tf.Scalar {
  const [M, d] = x.shape;
  const V = wte.shape[0];
  if (targets.length !== M || w.length !== M) throw new Error(`pretrain: ${targets.length} targets and ${w.length} weights for ${M} rows`);
  // Tensors made outside the forward are freed when the tape's forward ends (tfjs runs it in its
  // own tidy), so each pass makes its own from the JS arrays.
  const flatTargets = Int32Array.from(targets, (t, i) => i * V + t); // row·V + target
  const f = tf.customGrad((xi, wi, save) => {
    const [xs, ws] = [xi, wi] as tf.Tensor2D[];
    const p = tf.softmax(tf.matMul(xs, tf.transpose(ws) as tf.Tensor2D)) as tf.Tensor2D; // [M, V]
    const pt = tf.gather(tf.reshape(p, [M * V]), tf.tensor1d(flatTargets, 'int32'));
    (save as tf.GradSaveFunc)([xs, ws, p]);
    return {
      value: tf.sum(tf.mul(tf.neg(tf.log(tf.maximum(pt, 1e-37))), tf.tensor1d(w))) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, [x0, w0, p0]: tf.Tensor[]) => {
        const a = tf.expandDims(tf.mul(tf.tensor1d(w), dy), 1); // [M, 1]
        const dx = tf.mul(tf.sub(tf.matMul(p0 as tf.Tensor2D, w0 as tf.Tensor2D), tf.gather(w0, tf.tensor1d(targets, 'int32'))), a);
        const ax = tf.mul(x0, a) as tf.Tensor2D; // [M, d]
        const dense = tf.transpose(tf.matMul(tf.transpose(ax) as tf.Tensor2D, p0 as tf.Tensor2D)) as tf.Tensor2D; // [V, d]
        const axv = ax.dataSync();
        const oneHot = new Float32Array(V * d);
        for (let i = 0; i < M; i++) {
          const dst = targets[i] * d;
          for (let j = 0; j < d; j++) oneHot[dst + j] += axv[i * d + j];
        }
        return [dx, tf.sub(dense, tf.tensor2d(oneHot, [V, d]))];
      },
    };
  });
  return f(x, wte) as tf.Scalar;
}

type Params = Record<string, tf.Tensor>;

function p<T extends tf.Tensor>(w: Params, name: string): T {
  const t = w[name];
  if (!t) throw new Error(`pretrain: missing weight "${name}"`);
  return t as T;
}

/** One pre-LN block with trainable weights on x [B·T, d]. */
function trainableBlock(cfg: GPT2Config, w: Params, i: number, x: tf.Tensor2D, B: number, T: number, mask: tf.Tensor2D): tf.Tensor2D {
  const { nEmbd: d, nHead: H, layerNormEps: eps } = cfg;
  const hd = d / H;
  const lin = (m: string, input: tf.Tensor2D) => trainableLinear(input, p(w, `h.${i}.${m}.weight`), p(w, `h.${i}.${m}.bias`));
  const a = trainableLayerNorm(x, p(w, `h.${i}.ln_1.weight`), p(w, `h.${i}.ln_1.bias`), eps);
  const [q, k, v] = tf.split(lin('attn.c_attn', a), 3, 1) as tf.Tensor2D[];
  const heads = (t: tf.Tensor2D) => tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
  const y = attentionCore(heads(q), heads(k), heads(v), mask, 1 / Math.sqrt(hd));
  const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
  const x1 = tf.add(x, lin('attn.c_proj', merged)) as tf.Tensor2D;
  const m = trainableLayerNorm(x1, p(w, `h.${i}.ln_2.weight`), p(w, `h.${i}.ln_2.bias`), eps);
  return tf.add(x1, lin('mlp.c_proj', geluTanh(lin('mlp.c_fc', m)) as tf.Tensor2D)) as tf.Tensor2D;
}

/** Rows `index` of x [N, d]; the gradient scatters back (ScatterNd: gather's own gradient is missing on wasm). */
function selectRows(x: tf.Tensor2D, index: Int32Array): tf.Tensor2D {
  const [N, d] = x.shape;
  const f = tf.customGrad((input) => ({
    value: tf.gather(input as tf.Tensor2D, tf.tensor1d(index, 'int32')),
    gradFunc: (dy: tf.Tensor) => tf.scatterND(tf.expandDims(tf.tensor1d(index, 'int32'), 1), dy, [N, d]),
  }));
  return f(x) as tf.Tensor2D;
}

/** Rows of a batch the loss covers, and their weights (1 / tokens counted). */
function lossRows(b: TokenBatch, denominator: number): { index: Int32Array; targets: Int32Array; w: Float32Array } {
  const idx: number[] = [];
  for (let j = 0; j < b.mask.length; j++) if (b.mask[j] !== 0) idx.push(j);
  const index = Int32Array.from(idx);
  return { index, targets: Int32Array.from(idx, (j) => b.targets[j]), w: Float32Array.from(idx, (j) => b.mask[j] / denominator) };
}

/** Σ mask over a batch: the number of target tokens. */
export function targetTokens(b: TokenBatch): number {
  let n = 0;
  for (const m of b.mask) n += m;
  return n;
}

/** Mean NLL of the batch's masked targets (loss / denominator) as a differentiable function of the weights. */
export function pretrainLoss(cfg: GPT2Config, w: Params, b: TokenBatch, denominator = targetTokens(b)): tf.Scalar {
  const { batch: B, seqLen: T } = b;
  const rows = lossRows(b, Math.max(denominator, 1));
  if (rows.index.length === 0) return tf.scalar(0);
  let h = trainableEmbed(p(w, 'wte.weight'), p(w, 'wpe.weight'), b.ids, B, T);
  const mask = causalMask(T, 0);
  for (let i = 0; i < cfg.nLayer; i++) h = trainableBlock(cfg, w, i, h, B, T, mask);
  const selected = rows.index.length === B * T ? h : selectRows(h, rows.index);
  const x = trainableLayerNorm(selected, p(w, 'ln_f.weight'), p(w, 'ln_f.bias'), cfg.layerNormEps);
  return tiedLmLoss(x, p(w, 'wte.weight'), rows.targets, rows.w);
}

export interface PretrainStepResult {
  /** Mean NLL of the batch's target tokens (before the update). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  tokens: number;
}

/** The trainable model, its two AdamW parameter groups and the schedule. */
export class Pretrainer {
  readonly vars: Record<string, tf.Variable> = {};
  private readonly decayOpt: AdamW;
  private readonly plainOpt: AdamW;

  constructor(readonly config: GPT2Config, weights: TensorRecord, readonly settings: PretrainSettings) {
    for (const k of ['steps', 'warmup'] as const) {
      if (!Number.isInteger(settings[k]) || settings[k] < 0) throw new Error(`pretrain: ${k} must be an integer >= 0, got ${settings[k]}`);
    }
    if (!(settings.lr > 0)) throw new Error(`pretrain: lr must be > 0, got ${settings.lr}`);
    if (!(settings.clip >= 0)) throw new Error(`pretrain: clip must be >= 0 (0 = off), got ${settings.clip}`);
    for (const [name, t] of Object.entries(weights)) {
      const init = tf.tensor(t.data, t.shape);
      this.vars[name] = tf.variable(init, true, `pretrain/${name}/${Math.random().toString(36).slice(2)}`);
      init.dispose();
    }
    const schedule = warmupDecay(settings.schedule, settings.warmup, settings.steps, settings.minLrRatio);
    const base: AdamWConfig = { lr: settings.lr, beta1: settings.beta1, beta2: settings.beta2, eps: settings.eps, weightDecay: settings.weightDecay, schedule };
    this.decayOpt = new AdamW(base);
    this.plainOpt = new AdamW({ ...base, weightDecay: 0 });
  }

  get step(): number {
    return this.decayOpt.step;
  }

  /** One optimiser step on `b`: forward, backward, clip, AdamW. */
  async trainStep(b: TokenBatch): Promise<PretrainStepResult> {
    const names = Object.keys(this.vars);
    const tokens = targetTokens(b);
    if (tokens === 0) throw new Error('pretrain: a batch with no target tokens (every sequence was cut to nothing); raise --seq-len');
    const { value, grads } = tf.variableGrads(() => pretrainLoss(this.config, this.vars, b, tokens), names.map((n) => this.vars[n]));
    const byName: Record<string, tf.Tensor> = {};
    for (const n of names) byName[n] = grads[this.vars[n].name];
    const sumSq = tf.tidy(() => tf.addN(names.map((n) => tf.sum(tf.square(byName[n])))));
    const norm = Math.sqrt((await sumSq.data())[0]);
    sumSq.dispose();
    if (!Number.isFinite(norm)) throw new Error(`pretrain: the gradient norm is ${norm} at step ${this.step + 1}; lower --lr`);
    if (this.settings.clip > 0 && norm > this.settings.clip) {
      const scale = this.settings.clip / norm;
      for (const n of names) {
        const g = byName[n];
        byName[n] = tf.mul(g, scale);
        g.dispose();
      }
    }
    const lr = this.decayOpt.cfg.lr * (this.decayOpt.cfg.schedule?.(this.step + 1) ?? 1);
    const group = (d: boolean) => Object.fromEntries(names.filter((n) => decays(n) === d).map((n) => [n, this.vars[n]]));
    this.decayOpt.apply(group(true), byName);
    this.plainOpt.apply(group(false), byName);
    tf.dispose(Object.values(byName));
    const loss = (await value.data())[0];
    value.dispose();
    return { loss, gradNorm: norm, lr, tokens };
  }

  /** Σ NLL and token count over batches, without gradients. */
  async nll(batches: readonly TokenBatch[]): Promise<{ nll: number; tokens: number }> {
    let nll = 0;
    let tokens = 0;
    for (const b of batches) {
      const n = targetTokens(b);
      if (n === 0) continue;
      const t = tf.tidy(() => pretrainLoss(this.config, this.vars, b, 1));
      nll += (await t.data())[0];
      t.dispose();
      tokens += n;
    }
    return { nll, tokens };
  }

  async weights(): Promise<TensorRecord> {
    const out: TensorRecord = {};
    for (const [k, v] of Object.entries(this.vars)) out[k] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
    return out;
  }

  /** Step and AdamW moments, keyed by parameter name. */
  async optimizerState(): Promise<{ step: number; m: TensorRecord; v: TensorRecord }> {
    const a = await this.decayOpt.exportState();
    const b = await this.plainOpt.exportState();
    return { step: a.step, m: { ...a.m, ...b.m }, v: { ...a.v, ...b.v } };
  }

  /** Restores what optimizerState() returned (the weights come through the constructor). */
  loadOptimizerState(state: { step: number; m: TensorRecord; v: TensorRecord }): void {
    const part = (r: TensorRecord, d: boolean) => Object.fromEntries(Object.entries(r).filter(([n]) => decays(n) === d));
    this.decayOpt.importState({ step: state.step, m: part(state.m, true), v: part(state.v, true) });
    this.plainOpt.importState({ step: state.step, m: part(state.m, false), v: part(state.v, false) });
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
    this.decayOpt.dispose();
    this.plainOpt.dispose();
  }
}

/** Where training batches come from; `state()` is JSON that the caller's checkpoint stores. */
export interface PretrainData {
  next(): TokenBatch;
  state(): unknown;
}

export interface PretrainProgress {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Target tokens per second over this run so far. */
  tokensPerSecond: number;
  /** Held-out mean NLL, on the steps where it was measured. */
  heldoutNll?: number;
}

export interface PretrainLoopOptions {
  /** Stop after this step (default: the schedule's total, trainer.settings.steps). */
  until?: number;
  heldout: readonly TokenBatch[];
  /** Held-out loss every this many steps (and at the end); 0 = only at the end. */
  evalEvery: number;
  /** Checkpoint every this many steps (and at the end); 0 = only at the end. */
  checkpointEvery: number;
  checkpoint?: (step: number) => Promise<void>;
  onStep?: (p: PretrainProgress) => void;
}

export interface PretrainLoopResult {
  step: number;
  /** Mean training loss of the last min(50, steps) steps of this run. */
  trainLoss: number;
  heldoutNll: number;
  tokens: number;
  seconds: number;
}

/** Mean held-out NLL per target token. */
export async function heldoutMeanNll(trainer: Pretrainer, heldout: readonly TokenBatch[]): Promise<number> {
  const { nll, tokens } = await trainer.nll(heldout);
  return tokens > 0 ? nll / tokens : NaN;
}

/** Steps the trainer from its current step to `until`, measuring and checkpointing on the way. */
export async function pretrainLoop(trainer: Pretrainer, data: PretrainData, o: PretrainLoopOptions): Promise<PretrainLoopResult> {
  const until = o.until ?? trainer.settings.steps;
  const t0 = performance.now();
  let tokens = 0;
  const recent: number[] = [];
  let heldoutNll = NaN;
  while (trainer.step < until) {
    const r = await trainer.trainStep(data.next());
    tokens += r.tokens;
    recent.push(r.loss);
    if (recent.length > 50) recent.shift();
    const step = trainer.step;
    const last = step === until;
    const progress: PretrainProgress = { step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, tokensPerSecond: tokens / ((performance.now() - t0) / 1000) };
    if (last || (o.evalEvery > 0 && step % o.evalEvery === 0)) progress.heldoutNll = heldoutNll = await heldoutMeanNll(trainer, o.heldout);
    if (o.checkpoint && (last || (o.checkpointEvery > 0 && step % o.checkpointEvery === 0))) await o.checkpoint(step);
    o.onStep?.(progress);
  }
  if (Number.isNaN(heldoutNll)) heldoutNll = await heldoutMeanNll(trainer, o.heldout);
  const trainLoss = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN;
  return { step: trainer.step, trainLoss, heldoutNll, tokens, seconds: (performance.now() - t0) / 1000 };
}
