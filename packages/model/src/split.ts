// The model cut at layer k. The client holds wte, wpe and blocks [0, k); the server holds blocks
// [k, L), ln_f and an LM head tied to its own frozen wte. The unsplit model (for CenLoRA, FedLoRA
// and decoding) is the same class with the whole range. Only LoRA weights train.
//
// The client recomputes its forward pass inside backward (tfjs keeps no tape across the network
// round trip). LoRA dropout masks come from a per-step seed, so the recomputation is exact.
import * as tf from '@tensorflow/tfjs';
import { AdamW, type AdamWConfig } from './adamw';
import type { GPT2Config } from './config';
import { embed, lmHead, releaseTransposed, runBlocks, type LayerCache, type Weights } from './gpt2';
import { initLora, loraShapes, type Lora, type LoraConfig, type LoraDropout } from './lora';
import { maskWeights, nllSum, smoothedCrossEntropy } from './loss';
import type { TensorRecord } from './tensor-record';

/** One batch, row-major [B, T]: inputs, next-token targets and the loss mask. */
export interface TokenBatch {
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  batch: number;
  seqLen: number;
}

export interface SubModelOptions {
  lora: LoraConfig;
  optimizer: AdamWConfig;
  /** Seed of the adapter init (A kaiming-uniform, B zero). */
  seed?: number;
  /** Start from these adapter tensors instead of a fresh init. */
  adapter?: TensorRecord;
}

export interface Range {
  from: number;
  to: number;
  /** This part starts from token ids (embeddings) rather than incoming activations. */
  embeds: boolean;
  /** This part ends in the LM head and the loss. */
  head: boolean;
}

/** A contiguous slice of GPT-2 with its own LoRA adapter and optimiser. */
export class SubModel {
  readonly vars: Record<string, tf.Variable> = {};
  readonly optimizer: AdamW;

  constructor(readonly config: GPT2Config, readonly weights: Weights, readonly range: Range, readonly loraConfig: LoraConfig, opts: Omit<SubModelOptions, 'lora'>) {
    const init = opts.adapter ?? initLora(config, loraConfig, range.from, range.to, opts.seed ?? 0);
    this.loadAdapter(init);
    this.optimizer = new AdamW(opts.optimizer);
  }

  /** Expected adapter tensor shapes of this part. */
  adapterShapes(): Record<string, number[]> {
    return loraShapes(this.config, this.loraConfig, this.range.from, this.range.to);
  }

  /** Replaces adapter values (e.g. with the federated average). Shapes must match exactly. */
  loadAdapter(rec: TensorRecord): void {
    const shapes = this.adapterShapes();
    for (const [name, shape] of Object.entries(shapes)) {
      const t = rec[name];
      if (!t) throw new Error(`adapter: missing tensor "${name}"`);
      if (t.shape.join() !== shape.join()) throw new Error(`adapter: "${name}" has shape [${t.shape}], expected [${shape}]`);
      const value = tf.tensor(t.data, shape);
      if (this.vars[name]) {
        this.vars[name].assign(value);
        value.dispose();
      } else {
        this.vars[name] = tf.variable(value, true, `lora/${name}/${Math.random().toString(36).slice(2)}`);
        value.dispose(); // the variable holds its own reference to the data
      }
    }
    for (const name of Object.keys(rec)) if (!(name in shapes)) throw new Error(`adapter: unexpected tensor "${name}"`);
  }

  async adapter(): Promise<TensorRecord> {
    const out: TensorRecord = {};
    for (const [k, v] of Object.entries(this.vars)) out[k] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
    return out;
  }

  protected lora(params: tf.Tensor[] = Object.values(this.vars)): Lora {
    const names = Object.keys(this.vars);
    return { cfg: this.loraConfig, params: Object.fromEntries(names.map((n, j) => [n, params[j]])) };
  }

  /** Hidden states after this part's blocks: [B·T, d]. `input` is ids [B, T] or activations [B·T, d]. */
  protected hidden(input: tf.Tensor, B: number, T: number, lora: Lora, dropout: LoraDropout | null, cache?: LayerCache[], pastLen = 0): tf.Tensor2D {
    const x = this.range.embeds ? embed(this.config, this.weights, input as tf.Tensor2D, pastLen) : (input as tf.Tensor2D);
    return runBlocks(this.config, this.weights, x, B, T, this.range.from, this.range.to, { lora, dropout, cache });
  }

  protected dropout(seed: number | null): LoraDropout | null {
    return seed === null || this.loraConfig.dropout <= 0 ? null : { p: this.loraConfig.dropout, seed };
  }

  /** Gradients of `objective` w.r.t. the adapter (and the input activations when this part has none of its own). */
  protected gradsOf(objective: (lora: Lora, input: tf.Tensor) => tf.Tensor, input: tf.Tensor, dy?: tf.Tensor): { value: tf.Tensor; grads: Record<string, tf.Tensor>; inputGrad: tf.Tensor | null } {
    const names = Object.keys(this.vars);
    const wantInput = !this.range.embeds;
    const xs = [...(wantInput ? [input] : []), ...Object.values(this.vars)];
    let value: tf.Tensor | null = null;
    const f = (...args: tf.Tensor[]) => {
      const lora = this.lora(wantInput ? args.slice(1) : args);
      const out = objective(lora, wantInput ? args[0] : input);
      value = tf.keep(out.clone());
      return out;
    };
    const gs = tf.grads(f)(xs, dy);
    const grads = Object.fromEntries(names.map((n, j) => [n, gs[j + (wantInput ? 1 : 0)]]));
    return { value: value!, grads, inputGrad: wantInput ? gs[0] : null };
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
    this.optimizer.dispose();
  }
}

/** Client side: embeddings and blocks [0, k). */
export class ClientModel extends SubModel {
  constructor(config: GPT2Config, weights: Weights, readonly cut: number, opts: SubModelOptions) {
    super(config, weights, { from: 0, to: cut, embeds: true, head: false }, opts.lora, opts);
  }

  /** ids [B, T] → cut activations [B, T, d]. `dropoutSeed` null means inference. */
  forward(ids: Int32Array, B: number, T: number, dropoutSeed: number | null): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.hidden(tf.tensor2d(ids, [B, T], 'int32'), B, T, this.lora(), this.dropout(dropoutSeed));
      return tf.reshape(h, [B, T, this.config.nEmbd]) as tf.Tensor3D;
    });
  }

  /** Adapter gradients given ∂loss/∂activations [B, T, d]; recomputes forward with the same seed. */
  grads(ids: Int32Array, B: number, T: number, dropoutSeed: number | null, gradActs: tf.Tensor): Record<string, tf.Tensor> {
    return tf.tidy(() => {
      const idsT = tf.tensor2d(ids, [B, T], 'int32');
      const dy = tf.reshape(gradActs, [B * T, this.config.nEmbd]);
      const { value, grads } = this.gradsOf((lora) => this.hidden(idsT, B, T, lora, this.dropout(dropoutSeed)), idsT, dy);
      value.dispose();
      return grads;
    });
  }

  /** Back-propagates the server's cut gradient and steps the client optimiser. */
  backward(ids: Int32Array, B: number, T: number, dropoutSeed: number | null, gradActs: tf.Tensor): void {
    const grads = this.grads(ids, B, T, dropoutSeed, gradActs);
    this.optimizer.apply(this.vars, grads);
    tf.dispose(Object.values(grads));
  }
}

export interface StepResult {
  /** Training loss (with label smoothing) of this step. */
  loss: number;
}

/** Server side: blocks [k, L), ln_f and the tied head; trains its own adapter on every client's activations. */
export class ServerModel extends SubModel {
  constructor(config: GPT2Config, weights: Weights, readonly cut: number, opts: SubModelOptions) {
    super(config, weights, { from: cut, to: config.nLayer, embeds: false, head: true }, opts.lora, opts);
  }

  private objective(B: number, T: number, targets: tf.Tensor1D, w: tf.Tensor1D, smoothing: number, dropout: LoraDropout | null, rowSink: (t: tf.Tensor1D) => void) {
    return (lora: Lora, acts: tf.Tensor) => {
      const h = this.hidden(tf.reshape(acts, [B * T, this.config.nEmbd]), B, T, lora, dropout);
      return smoothedCrossEntropy(lmHead(this.config, this.weights, h), targets, w, smoothing, rowSink);
    };
  }

  /**
   * Loss, ∂loss/∂acts and adapter gradients for activations [B, T, d]. Rows are weighted by
   * `rowWeights` (mask/Σmask for a single batch; see maskWeights). `rowLoss` [B·T] holds each
   * row's weighted contribution to the loss.
   */
  grads(acts: tf.Tensor, targets: Int32Array, rowWeights: Float32Array, opts: { smoothing: number; dropoutSeed: number | null }): { loss: tf.Scalar; rowLoss: tf.Tensor1D; gradActs: tf.Tensor3D; grads: Record<string, tf.Tensor> } {
    const [B, T] = acts.shape;
    let rowLoss: tf.Tensor1D | null = null;
    const out = tf.tidy(() => {
      const t = tf.tensor1d(targets, 'int32');
      const w = tf.tensor1d(rowWeights);
      const sink = (r: tf.Tensor1D) => { rowLoss = r; };
      const { value, grads, inputGrad } = this.gradsOf(this.objective(B, T, t, w, opts.smoothing, this.dropout(opts.dropoutSeed), sink), acts);
      return { loss: value as tf.Scalar, gradActs: inputGrad as tf.Tensor3D, grads };
    });
    return { ...out, rowLoss: rowLoss! };
  }

  /**
   * Forward, backward and an optimiser step on the server adapter. Returns the loss, each row's
   * weighted share of it [B·T], and ∂loss/∂acts [B, T, d].
   */
  async step(acts: tf.Tensor, targets: Int32Array, rowWeights: Float32Array, opts: { smoothing: number; dropoutSeed: number | null }): Promise<StepResult & { rowLoss: Float32Array; gradActs: tf.Tensor3D }> {
    const { loss, rowLoss, gradActs, grads } = this.grads(acts, targets, rowWeights, opts);
    this.optimizer.apply(this.vars, grads);
    tf.dispose(Object.values(grads));
    const [value, rows] = await Promise.all([loss.data(), rowLoss.data()]);
    tf.dispose([loss, rowLoss]);
    return { loss: value[0], rowLoss: rows as Float32Array, gradActs };
  }

  /** Σ NLL and token count (no smoothing) over the masked positions: for held-out loss. */
  async nll(acts: tf.Tensor, targets: Int32Array, mask: Float32Array): Promise<{ nll: number; count: number }> {
    const [B, T] = acts.shape;
    const r = tf.tidy(() => {
      const h = this.hidden(tf.reshape(acts, [B * T, this.config.nEmbd]), B, T, this.lora(), null);
      return nllSum(lmHead(this.config, this.weights, h), tf.tensor1d(targets, 'int32'), tf.tensor1d(mask));
    });
    const [nll, count] = await Promise.all([r.nll.data(), r.count.data()]);
    tf.dispose([r.nll, r.count]);
    return { nll: nll[0], count: count[0] };
  }
}

/** The whole model with one adapter: CenLoRA, FedLoRA clients, evaluation and decoding. */
export class FullModel extends SubModel {
  constructor(config: GPT2Config, weights: Weights, opts: SubModelOptions) {
    super(config, weights, { from: 0, to: config.nLayer, embeds: true, head: true }, opts.lora, opts);
  }

  /** Loss and adapter gradients for a batch; mask weights as in SplitLoRA. */
  grads(b: TokenBatch, opts: { smoothing: number; dropoutSeed: number | null }): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
    return tf.tidy(() => {
      const ids = tf.tensor2d(b.ids, [b.batch, b.seqLen], 'int32');
      const t = tf.tensor1d(b.targets, 'int32');
      const w = tf.tensor1d(maskWeights(b.mask));
      const dropout = this.dropout(opts.dropoutSeed);
      const { value, grads } = this.gradsOf((lora) => smoothedCrossEntropy(lmHead(this.config, this.weights, this.hidden(ids, b.batch, b.seqLen, lora, dropout)), t, w, opts.smoothing), ids);
      return { loss: value as tf.Scalar, grads };
    });
  }

  async step(b: TokenBatch, opts: { smoothing: number; dropoutSeed: number | null }): Promise<StepResult> {
    const { loss, grads } = this.grads(b, opts);
    this.optimizer.apply(this.vars, grads);
    tf.dispose(Object.values(grads));
    const value = (await loss.data())[0];
    loss.dispose();
    return { loss: value };
  }

  /** Logits [B·T, V] for ids [B, T] (no dropout). With a cache, ids are the new tokens only. */
  logits(ids: Int32Array, B: number, T: number, cache?: LayerCache[], pastLen = 0): tf.Tensor2D {
    return tf.tidy(() => lmHead(this.config, this.weights, this.hidden(tf.tensor2d(ids, [B, T], 'int32'), B, T, this.lora(), null, cache, pastLen)));
  }

  async nll(b: TokenBatch): Promise<{ nll: number; count: number }> {
    const r = tf.tidy(() => nllSum(this.logits(b.ids, b.batch, b.seqLen), tf.tensor1d(b.targets, 'int32'), tf.tensor1d(b.mask)));
    const [nll, count] = await Promise.all([r.nll.data(), r.count.data()]);
    tf.dispose([r.nll, r.count]);
    return { nll: nll[0], count: count[0] };
  }

  /** An empty KV cache for batch B: keys/values [B, H, 0, hd] per block. */
  emptyCache(B: number): LayerCache[] {
    const { nHead: H, nEmbd: d, nLayer: L } = this.config;
    return Array.from({ length: L }, () => ({ k: tf.zeros([B, H, 0, d / H]) as tf.Tensor4D, v: tf.zeros([B, H, 0, d / H]) as tf.Tensor4D }));
  }
}

/** Converts a TensorRecord of frozen weights to tfjs tensors. */
export function toWeights(rec: TensorRecord): Weights {
  return Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
}

/** Frees frozen weights (toWeights' tensors) together with the transposed copies the models made of them. */
export function disposeWeights(weights: Weights): void {
  for (const t of Object.values(weights)) {
    releaseTransposed(t);
    t.dispose();
  }
}
