// The model cut at layer k. The client holds wte, wpe and blocks [0, k); the server holds blocks
// [k, L), ln_f and an LM head tied to its own frozen wte. The unsplit model (for CenLoRA, FedLoRA
// and decoding) is the same class with the whole range. Only LoRA weights train.
//
// The client recomputes its forward pass inside backward (tfjs keeps no tape across the network
// round trip). LoRA dropout masks come from a per-step seed, so the recomputation is exact.
import * as tf from '@tensorflow/tfjs';
import type { TensorRecord } from '@splitlora/tensor';
import { AdamW, type AdamWConfig } from './adamw';
import type { GPT2Config } from './config';
import { embed, finalNorm, gatherRows, lmHead, releaseTransposed, resolveTransientPacks, resolveTransposedCopies, runBlocks, runBlocksNoGrad, tiedEmbedding, type LayerCache, type Weights } from './gpt2';
import { initLora, loraShapes, type Lora, type LoraConfig, type LoraDropout } from './lora';
import { activeRows, maskWeights, tiedHeadLoss, tiedHeadNll } from './loss';

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
  /**
   * Keep a transposed copy of each frozen weight for backward: faster on wasm, twice the weight
   * memory. 'auto' (default) keeps them on wasm while this part's frozen weights fit in
   * AUTO_COPIES_MAX_BYTES (small presets and a GPT-2 S server: yes; the whole GPT-2 S and GPT-2 M: no).
   */
  transposedCopies?: boolean | 'auto';
  /**
   * Sequences per micro-batch of a training step, or 'auto' (default): as many as fit
   * tapeBudgetBytes. tfjs keeps every intermediate and every gradient of a tape until the tape
   * ends, so one GPT-2 S step at 8×128 would need ≈6 GB; micro-batches of whole sequences bound
   * that, and the loss is a sum over rows, so the result is the same.
   */
  microBatch?: number | 'auto';
  /** Feed matmuls fresh copies of the frozen weights, so wasm frees their packed copies (see resolveTransientPacks). */
  transientPacks?: boolean | 'auto';
}

/**
 * Bytes one sequence of T tokens adds to a training tape through `blocks` blocks and `headRows`
 * loss rows: ≈640 B per token, block and unit of width (measured on wasm at GPT-2 S shape) and
 * ≈12 B per logit of the head (logits, softmax, their gradient's operands).
 */
export function tapeBytesPerSequence(config: GPT2Config, blocks: number, T: number, headRows: number): number {
  return 640 * T * blocks * config.nEmbd + 12 * headRows * config.vocabSize;
}

/** Tape budget of one micro-batch: wasm (4 GB in all, weights included) and cpu get 1 GiB; GPU backends 8 GiB. */
export function tapeBudgetBytes(backend: string = tf.getBackend()): number {
  return backend === 'wasm' || backend === 'cpu' ? 2 ** 30 : 8 * 2 ** 30;
}

/** Bytes (F32) of the frozen weights a part multiplies with: its blocks' Conv1D weights and, with the head, wte. */
export function frozenMatmulBytes(config: GPT2Config, range: Pick<Range, 'from' | 'to' | 'head'>): number {
  const d = config.nEmbd;
  const perBlock = 12 * d * d; // c_attn 3d², attn.c_proj d², mlp.c_fc 4d², mlp.c_proj 4d²
  return 4 * ((range.to - range.from) * perBlock + (range.head ? config.vocabSize * d : 0));
}

/** The head's rows: all of them, or only those the loss covers (M of N). */
interface HeadRows {
  /** Row indices [M] into [B·T], or null for every row. */
  index: tf.Tensor1D | null;
  targets: tf.Tensor1D;
  weights: tf.Tensor1D;
  count: number;
}

/**
 * The rows with a non-zero weight. The head and loss run on these only (on E2E half of each
 * sequence is prompt); an empty mask keeps one zero-weight row so that shapes stay valid.
 */
function headRows(targets: Int32Array, rowWeights: Float32Array, allRows: boolean): HeadRows {
  const N = rowWeights.length;
  if (targets.length !== N) throw new Error(`loss: ${targets.length} targets for ${N} row weights`);
  let idx = allRows ? null : activeRows(rowWeights);
  if (idx && idx.length === N) idx = null;
  if (idx && idx.length === 0) idx = Int32Array.of(0);
  if (!idx) return { index: null, targets: tf.tensor1d(targets, 'int32'), weights: tf.tensor1d(rowWeights), count: N };
  return {
    index: tf.tensor1d(idx, 'int32'),
    targets: tf.tensor1d(Int32Array.from(idx, (j) => targets[j]), 'int32'),
    weights: tf.tensor1d(Float32Array.from(idx, (j) => rowWeights[j])),
    count: idx.length,
  };
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
  /** Whether this part keeps transposed copies of its frozen weights (resolved from the option). */
  readonly transposedCopies: boolean;
  /** Whether matmuls get fresh weight copies (resolved from the option). */
  readonly transientPacks: boolean;
  protected readonly microBatch: number | 'auto';

  constructor(readonly config: GPT2Config, readonly weights: Weights, readonly range: Range, readonly loraConfig: LoraConfig, opts: Omit<SubModelOptions, 'lora'>) {
    this.transposedCopies = resolveTransposedCopies(opts.transposedCopies, frozenMatmulBytes(config, range));
    this.transientPacks = resolveTransientPacks(opts.transientPacks, frozenMatmulBytes(config, range), this.transposedCopies);
    const mb = opts.microBatch ?? 'auto';
    if (mb !== 'auto' && !(Number.isInteger(mb) && mb >= 1)) throw new Error(`model: microBatch must be a positive integer or 'auto', got ${mb}`);
    this.microBatch = mb;
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
    return runBlocks(this.config, this.weights, x, B, T, this.range.from, this.range.to, { lora, dropout, cache, transposedCopies: this.transposedCopies, transientPacks: this.transientPacks });
  }

  /** hidden() outside any tape: frees each block's intermediates as it goes. */
  protected hiddenNoGrad(input: tf.Tensor, B: number, T: number, dropout: LoraDropout | null, cache?: LayerCache[], pastLen = 0): tf.Tensor2D {
    const x = this.range.embeds ? embed(this.config, this.weights, input as tf.Tensor2D, pastLen) : (input as tf.Tensor2D);
    return runBlocksNoGrad(this.config, this.weights, x, B, T, this.range.from, this.range.to, { lora: this.lora(), dropout, cache, transposedCopies: this.transposedCopies, transientPacks: this.transientPacks });
  }

  /** ln_f, the tied head and the smoothed loss on the selected rows of h [N, d]. `rowSink` gets [N] per-row weighted losses. */
  protected headLoss(h: tf.Tensor2D, rows: HeadRows, smoothing: number, rowSink?: (t: tf.Tensor1D) => void): tf.Scalar {
    const N = h.shape[0];
    const sink = rowSink && ((weighted: tf.Tensor1D) => {
      if (!rows.index) return rowSink(weighted);
      rowSink(tf.keep(tf.scatterND(tf.expandDims(rows.index, 1), weighted, [N]) as tf.Tensor1D));
      weighted.dispose();
    });
    const x = finalNorm(this.config, this.weights, rows.index ? gatherRows(h, rows.index) : h);
    return tiedHeadLoss(x, tiedEmbedding(this.weights), rows.targets, rows.weights, smoothing, { transposedCopies: this.transposedCopies, transientPacks: this.transientPacks, rowSink: sink });
  }

  /** Σ −log p[target]·mask and Σ mask over the masked rows of h [N, d] (no smoothing). */
  protected headNll(h: tf.Tensor2D, targets: Int32Array, mask: Float32Array): { nll: tf.Scalar; count: tf.Scalar } {
    const rows = headRows(targets, mask, false);
    const x = finalNorm(this.config, this.weights, rows.index ? tf.gather(h, rows.index) : h);
    const nll = tiedHeadNll(x, tiedEmbedding(this.weights), rows.targets, this.transposedCopies);
    return { nll: tf.sum(tf.mul(nll, rows.weights)) as tf.Scalar, count: tf.sum(rows.weights) as tf.Scalar };
  }

  /** Sequences per micro-batch of a B×T training step with `lossRows` loss rows in all. */
  sequencesPerMicroBatch(B: number, T: number, lossRows: number): number {
    if (this.microBatch !== 'auto') return Math.min(B, this.microBatch);
    const perSequence = tapeBytesPerSequence(this.config, this.range.to - this.range.from, T, this.range.head ? lossRows / B : 0);
    return Math.max(1, Math.min(B, Math.floor(tapeBudgetBytes() / perSequence)));
  }

  /**
   * Sums `run` over micro-batches of whole sequences [s0, s1) (attention never crosses a sequence)
   * and concatenates their input gradients. Each micro-batch's tape is freed before the next.
   */
  protected microBatched(B: number, T: number, lossRows: number, run: (s0: number, s1: number) => { value: tf.Tensor; grads: Record<string, tf.Tensor>; inputGrad: tf.Tensor | null }): { value: tf.Tensor; grads: Record<string, tf.Tensor>; inputGrad: tf.Tensor | null } {
    const per = this.sequencesPerMicroBatch(B, T, lossRows);
    if (per >= B) return run(0, B);
    let value: tf.Tensor | null = null;
    const grads: Record<string, tf.Tensor> = {};
    const inputGrads: tf.Tensor[] = [];
    const accumulate = (old: tf.Tensor | null, next: tf.Tensor) => {
      if (!old) return next;
      const sum = tf.add(old, next);
      tf.dispose([old, next]);
      return sum;
    };
    for (let s0 = 0; s0 < B; s0 += per) {
      const r = run(s0, Math.min(B, s0 + per));
      value = accumulate(value, r.value);
      for (const [k, g] of Object.entries(r.grads)) grads[k] = accumulate(grads[k] ?? null, g);
      if (r.inputGrad) inputGrads.push(r.inputGrad);
    }
    return { value: value!, grads, inputGrad: inputGrads.length > 0 ? tf.concat(inputGrads, 0) : null };
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
      const h = this.hiddenNoGrad(tf.tensor2d(ids, [B, T], 'int32'), B, T, this.dropout(dropoutSeed));
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

  /**
   * U-shaped split (labels stay here): ln_f, the tied head and the smoothed loss on the server's
   * top hidden states h_L [B, T, d]. Returns the loss and ∂loss/∂h_L [B, T, d]. The weights must
   * include ln_f (the client file of a `labels: "client"` run does). Frozen: nothing here trains.
   */
  topGrad(top: tf.Tensor, targets: Int32Array, mask: Float32Array, smoothing: number): { loss: tf.Scalar; gradTop: tf.Tensor3D } {
    const [B, T, d] = top.shape;
    if (targets.length !== B * T || mask.length !== B * T) throw new Error(`client head: ${targets.length} targets and ${mask.length} mask values for h_L [${top.shape}]`);
    return tf.tidy(() => {
      const w = maskWeights(mask);
      // Micro-batches of whole sequences bound the [rows, V] logits as on the server.
      const perSequence = tapeBytesPerSequence(this.config, 0, T, activeRows(w).length / B);
      const per = this.microBatch === 'auto' ? Math.max(1, Math.min(B, Math.floor(tapeBudgetBytes() / perSequence))) : Math.min(B, this.microBatch);
      let loss: tf.Tensor = tf.scalar(0);
      const grads: tf.Tensor[] = [];
      for (let s0 = 0; s0 < B; s0 += per) {
        const s1 = Math.min(B, s0 + per);
        const rows = headRows(targets.subarray(s0 * T, s1 * T), w.subarray(s0 * T, s1 * T), false);
        const part = tf.reshape(s1 - s0 === B ? top : tf.slice(top, [s0, 0, 0], [s1 - s0, T, d]), [(s1 - s0) * T, d]) as tf.Tensor2D;
        const { value, grad } = tf.valueAndGrad((h: tf.Tensor) => this.headLoss(h as tf.Tensor2D, rows, smoothing))(part);
        loss = tf.add(loss, value);
        grads.push(grad);
      }
      return { loss: loss as tf.Scalar, gradTop: tf.reshape(grads.length === 1 ? grads[0] : tf.concat(grads, 0), [B, T, d]) as tf.Tensor3D };
    });
  }
}

/** The U-shaped server's dropout: one step's seed, or one seed per packed client step (LoraDropout.segments). */
export type MiddleDropout = { seed: number } | { segments: NonNullable<LoraDropout['segments']> } | null;

/**
 * Server side of the U-shaped split (`labels: "client"`): blocks [k, L) only, with their own
 * adapter. Forward returns h_L; backward takes ∂loss/∂h_L from the client, recomputes the forward
 * with the same dropout masks (tfjs keeps no tape across the round trip) and returns ∂loss/∂h_k.
 */
export class MiddleModel extends SubModel {
  constructor(config: GPT2Config, weights: Weights, readonly cut: number, opts: SubModelOptions) {
    super(config, weights, { from: cut, to: config.nLayer, embeds: false, head: false }, opts.lora, opts);
  }

  private masks(drop: MiddleDropout): LoraDropout | null {
    if (!drop || this.loraConfig.dropout <= 0) return null;
    return 'segments' in drop ? { p: this.loraConfig.dropout, seed: 0, segments: drop.segments } : { p: this.loraConfig.dropout, seed: drop.seed };
  }

  /** Cut activations [B, T, d] → top hidden states h_L [B, T, d] (before ln_f), no tape. */
  forward(acts: tf.Tensor, drop: MiddleDropout): tf.Tensor3D {
    const [B, T, d] = acts.shape;
    return tf.tidy(() => tf.reshape(this.hiddenNoGrad(tf.reshape(acts, [B * T, d]), B, T, this.masks(drop)), [B, T, d]) as tf.Tensor3D);
  }

  /** ∂loss/∂acts [B, T, d] and adapter gradients, given ∂loss/∂h_L [B, T, d]. */
  grads(acts: tf.Tensor, gradTop: tf.Tensor, drop: MiddleDropout): { gradActs: tf.Tensor3D; grads: Record<string, tf.Tensor> } {
    const [B, T, d] = acts.shape;
    if (gradTop.shape.join() !== acts.shape.join()) throw new Error(`server: ∂loss/∂h_L [${gradTop.shape}] does not match activations [${acts.shape}]`);
    return tf.tidy(() => {
      const masks = this.masks(drop);
      const { value, grads, inputGrad } = this.microBatched(B, T, 0, (s0, s1) => {
        const n = s1 - s0;
        const part = n === B ? acts : tf.slice(acts, [s0, 0, 0], [n, T, d]);
        const dy = tf.reshape(n === B ? gradTop : tf.slice(gradTop, [s0, 0, 0], [n, T, d]), [n * T, d]);
        const m = masks && { ...masks, rowOffset: s0 * T };
        const r = this.gradsOf((lora, x) => this.hidden(tf.reshape(x, [n * T, d]), n, T, lora, m), part, dy);
        r.value.dispose(); // h_L itself: the client already has it
        return { ...r, value: tf.scalar(0) };
      });
      value.dispose();
      return { gradActs: tf.reshape(inputGrad!, [B, T, d]) as tf.Tensor3D, grads };
    });
  }

  /** Backward and an optimiser step on the server adapter; returns ∂loss/∂acts [B, T, d]. */
  step(acts: tf.Tensor, gradTop: tf.Tensor, drop: MiddleDropout): tf.Tensor3D {
    const { gradActs, grads } = this.grads(acts, gradTop, drop);
    this.optimizer.apply(this.vars, grads);
    tf.dispose(Object.values(grads));
    return gradActs;
  }
}

export interface StepOptions {
  smoothing: number;
  /** Seed of this step's LoRA dropout masks; null for none. */
  dropoutSeed: number | null;
  /** Run the head and loss on every row, not just the weighted ones (same result; for tests). */
  allRows?: boolean;
  /**
   * Rows [B·T] of the whole step before this batch's first, when this batch is a slice of it (a
   * step spread over worker threads): the slice then gets exactly the whole step's dropout masks.
   */
  dropoutRowOffset?: number;
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

  private objective(B: number, T: number, rows: HeadRows, smoothing: number, dropout: LoraDropout | null, rowSink: (t: tf.Tensor1D) => void) {
    return (lora: Lora, acts: tf.Tensor) => {
      const h = this.hidden(tf.reshape(acts, [B * T, this.config.nEmbd]), B, T, lora, dropout);
      return this.headLoss(h, rows, smoothing, rowSink);
    };
  }

  /**
   * Loss, ∂loss/∂acts and adapter gradients for activations [B, T, d]. Rows are weighted by
   * `rowWeights` (mask/Σmask for a single batch; see maskWeights). `rowLoss` [B·T] holds each
   * row's weighted contribution to the loss. The head and loss run on the rows with a non-zero
   * weight only, unless `allRows` (the same result, for checking that).
   */
  grads(acts: tf.Tensor, targets: Int32Array, rowWeights: Float32Array, opts: StepOptions): { loss: tf.Scalar; rowLoss: tf.Tensor1D; gradActs: tf.Tensor3D; grads: Record<string, tf.Tensor> } {
    const [B, T, d] = acts.shape;
    if (targets.length !== B * T || rowWeights.length !== B * T) throw new Error(`server: ${targets.length} targets and ${rowWeights.length} row weights for activations [${acts.shape}]`);
    const rowLosses: tf.Tensor1D[] = [];
    const out = tf.tidy(() => {
      const dropout = this.dropout(opts.dropoutSeed);
      const { value, grads, inputGrad } = this.microBatched(B, T, activeRows(rowWeights).length, (s0, s1) => {
        const rows = headRows(targets.subarray(s0 * T, s1 * T), rowWeights.subarray(s0 * T, s1 * T), opts.allRows ?? false);
        const part = s1 - s0 === B ? acts : tf.slice(acts, [s0, 0, 0], [s1 - s0, T, d]);
        const objective = this.objective(s1 - s0, T, rows, opts.smoothing, dropout && { ...dropout, rowOffset: (opts.dropoutRowOffset ?? 0) + s0 * T }, (r) => rowLosses.push(r));
        return this.gradsOf(objective, part);
      });
      return { loss: value as tf.Scalar, gradActs: tf.reshape(inputGrad!, [B, T, d]) as tf.Tensor3D, grads };
    });
    const rowLoss = rowLosses.length === 1 ? rowLosses[0] : (tf.concat(rowLosses) as tf.Tensor1D);
    if (rowLosses.length > 1) tf.dispose(rowLosses);
    return { ...out, rowLoss };
  }

  /**
   * Forward, backward and an optimiser step on the server adapter. Returns the loss, each row's
   * weighted share of it [B·T], and ∂loss/∂acts [B, T, d].
   */
  async step(acts: tf.Tensor, targets: Int32Array, rowWeights: Float32Array, opts: StepOptions): Promise<StepResult & { rowLoss: Float32Array; gradActs: tf.Tensor3D }> {
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
    const r = tf.tidy(() => this.headNll(this.hiddenNoGrad(tf.reshape(acts, [B * T, this.config.nEmbd]), B, T, null), targets, mask));
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
  grads(b: TokenBatch, opts: StepOptions): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
    const T = b.seqLen;
    return tf.tidy(() => {
      const weights = maskWeights(b.mask);
      const dropout = this.dropout(opts.dropoutSeed);
      const { value, grads } = this.microBatched(b.batch, T, activeRows(weights).length, (s0, s1) => {
        const ids = tf.tensor2d(b.ids.subarray(s0 * T, s1 * T), [s1 - s0, T], 'int32');
        const rows = headRows(b.targets.subarray(s0 * T, s1 * T), weights.subarray(s0 * T, s1 * T), opts.allRows ?? false);
        const drop = dropout && { ...dropout, rowOffset: s0 * T };
        return this.gradsOf((lora) => this.headLoss(this.hidden(ids, s1 - s0, T, lora, drop), rows, opts.smoothing), ids);
      });
      return { loss: value as tf.Scalar, grads };
    });
  }

  async step(b: TokenBatch, opts: StepOptions): Promise<StepResult> {
    const { loss, grads } = this.grads(b, opts);
    this.optimizer.apply(this.vars, grads);
    tf.dispose(Object.values(grads));
    const value = (await loss.data())[0];
    loss.dispose();
    return { loss: value };
  }

  /**
   * Logits [B·T, V] for ids [B, T] (no dropout). With a cache, ids are the new tokens only. With
   * `rows` (indices into [B·T]), only those rows' logits [rows, V]: decoding needs the last position.
   */
  logits(ids: Int32Array, B: number, T: number, cache?: LayerCache[], pastLen = 0, rows?: Int32Array): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.hiddenNoGrad(tf.tensor2d(ids, [B, T], 'int32'), B, T, null, cache, pastLen);
      return lmHead(this.config, this.weights, rows ? tf.gather(h, tf.tensor1d(rows, 'int32')) : h, this.transposedCopies);
    });
  }

  /** Σ NLL and token count (no smoothing) over the masked positions; the head runs on those rows only. */
  async nll(b: TokenBatch): Promise<{ nll: number; count: number }> {
    const r = tf.tidy(() => this.headNll(this.hiddenNoGrad(tf.tensor2d(b.ids, [b.batch, b.seqLen], 'int32'), b.batch, b.seqLen, null), b.targets, b.mask));
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
