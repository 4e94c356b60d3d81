// Encoded examples -> fixed-shape training batches, and a resumable seeded batch order.
import type { EncodedExample } from './examples';
import { makeRng, mixSeed, permutation } from './rng';
import { EOS } from './tokenizer';

/** Row-major [batch, seqLen] arrays for one training step. */
export interface Batch {
  ids: Int32Array; // [B, T] model input
  targets: Int32Array; // [B, T] next token: targets[b, t] = sequence_b[t + 1]
  mask: Float32Array; // [B, T] 1 where the target is a completion token, else 0
  batch: number; // B
  seqLen: number; // T
}

export interface BatchOptions {
  /**
   * Most input positions per row (the model's context length). A longer sequence keeps its
   * start, its first maxLen + 1 tokens, so the end of a long completion may be cut.
   * Default: no limit.
   */
  maxLen?: number;
}

/**
 * Sequence = context ⧺ completion. T = (longest sequence in the batch) - 1, so no batch is
 * padded further than it must be; padding (ids and targets) is EOS with mask 0. As in
 * SplitLoRA, mask[b, t] = 1 for t >= len(context) - 1: every completion token, its final EOS
 * included, is a target. A plain-text example (context [EOS]) is thus scored on every token.
 * The loss is sum(loss · mask) / sum(mask); sum(mask) is 0 only if truncation cut every
 * completion, which the caller should treat as "skip this batch".
 */
export function makeBatch(examples: readonly EncodedExample[], opts: BatchOptions = {}): Batch {
  const { maxLen } = opts;
  if (examples.length === 0) throw new Error('makeBatch needs at least one example');
  if (maxLen !== undefined && !(Number.isInteger(maxLen) && maxLen >= 1)) {
    throw new Error(`maxLen must be an integer >= 1, got ${maxLen}`);
  }
  const seqs = examples.map((e) => {
    const s = [...e.context, ...e.completion];
    return maxLen === undefined ? s : s.slice(0, maxLen + 1);
  });
  const B = examples.length;
  const T = Math.max(...seqs.map((s) => s.length)) - 1;
  if (T < 1) throw new Error('makeBatch needs a sequence of at least 2 tokens (context + completion)');

  const ids = new Int32Array(B * T).fill(EOS);
  const targets = new Int32Array(B * T).fill(EOS);
  const mask = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    const firstTarget = Math.max(examples[b].context.length - 1, 0);
    for (let t = 0; t < s.length - 1; t++) {
      ids[b * T + t] = s[t];
      targets[b * T + t] = s[t + 1];
      if (t >= firstTarget) mask[b * T + t] = 1;
    }
  });
  return { ids, targets, mask, batch: B, seqLen: T };
}

/** The order of examples 0..n-1 in one epoch: a permutation fixed by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return permutation(n, makeRng(mixSeed(seed, epoch)));
}

/** Where a BatchIterator stands; plain JSON, so checkpoints can store it. */
export interface BatchIteratorState {
  epoch: number; // epochs completed
  cursor: number; // position within this epoch's order
  seed: number;
}

export interface BatchIteratorOptions {
  /** Drop an epoch's last, short batch (SplitLoRA's DataLoader does). Default false. */
  dropLast?: boolean;
}

/**
 * Shuffled batches of `batchSize` example indices over endless epochs, each epoch in a new
 * seeded order. `state` after any batch restores the exact continuation: resuming from a
 * checkpoint yields the same batches an uninterrupted run would have.
 */
export class BatchIterator {
  private epoch: number;
  private cursor: number;
  private readonly seed: number;
  private order: number[];

  constructor(
    readonly n: number,
    readonly batchSize: number,
    state: BatchIteratorState | { seed: number },
    private readonly opts: BatchIteratorOptions = {},
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`BatchIterator needs at least one example, got n = ${n}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be an integer >= 1, got ${batchSize}`);
    if (opts.dropLast && n < batchSize) {
      throw new Error(`dropLast with ${n} examples < batch size ${batchSize} gives no batches: lower the batch size`);
    }
    const { epoch = 0, cursor = 0 } = state as Partial<BatchIteratorState>;
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(cursor) || cursor < 0 || cursor >= this.epochLength()) {
      throw new Error(`invalid BatchIterator state ${JSON.stringify(state)} for ${n} examples`);
    }
    this.epoch = epoch;
    this.cursor = cursor;
    this.seed = state.seed;
    this.order = epochOrder(n, this.seed, epoch);
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    return this.opts.dropLast ? Math.floor(this.n / this.batchSize) : Math.ceil(this.n / this.batchSize);
  }

  get state(): BatchIteratorState {
    return { epoch: this.epoch, cursor: this.cursor, seed: this.seed };
  }

  /** The next batch's example indices, and the epoch it belongs to. */
  next(): { indices: number[]; epoch: number } {
    const epoch = this.epoch;
    const indices = this.order.slice(this.cursor, Math.min(this.cursor + this.batchSize, this.epochLength()));
    this.cursor += indices.length;
    if (this.cursor >= this.epochLength()) {
      this.epoch++;
      this.cursor = 0;
      this.order = epochOrder(this.n, this.seed, this.epoch);
    }
    return { indices, epoch };
  }

  // Examples used per epoch: all of them, or whole batches only with dropLast.
  private epochLength(): number {
    return this.opts.dropLast ? this.batchesPerEpoch * this.batchSize : this.n;
  }
}
