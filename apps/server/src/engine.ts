// The server half of SplitLoRA: one ServerModel (blocks [k, L), ln_f, tied head, its own LoRA)
// trained on every client's cut activations.
//
// Batching: when several clients' activations wait at once, they run as one forward/backward.
// Rows are padded to the longest sequence (padding sits after each row's tokens and has mask 0,
// so the causal mask keeps it from touching real positions). The server loss is the mean of the
// clients' own losses, (1/n)·Σ_c loss_c, so one batched update equals one step on an effective
// batch of n·B rows at the same learning rate; one-at-a-time mode takes n steps of B rows
// instead. Each client gets ∂loss_c/∂acts_c — exactly the gradient it would get alone.
import * as tf from '@tensorflow/tfjs';
import { maskWeights, type ServerModel } from '@splitlora/model';

export interface StepRequest {
  clientId: string;
  /** [B, T, d] */
  acts: { shape: number[]; data: Float32Array };
  targets: Int32Array;
  mask: Float32Array;
}

export interface StepReply {
  loss: number;
  /** ∂loss_c/∂acts_c, [B, T, d] */
  grad: { shape: number[]; data: Float32Array };
}

interface Pending extends StepRequest {
  resolve: (r: StepReply) => void;
  reject: (e: unknown) => void;
}

export interface EngineOptions {
  /** Merge concurrent requests into one batched step. */
  batching: boolean;
  /** At most this many requests per batched step. */
  maxGroup: number;
  smoothing: number;
  /** Seed for the server's LoRA dropout masks (one per server step). */
  seed: number;
}

export interface EngineStats {
  serverSteps: number;
  tokens: number;
  busyMs: number;
}

export class ServerEngine {
  private queue: Pending[] = [];
  private exclusive: { fn: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private running = false;
  readonly stats: EngineStats = { serverSteps: 0, tokens: 0, busyMs: 0 };

  constructor(readonly model: ServerModel, readonly opts: EngineOptions) {}

  /** Queues one client's step; resolves with its loss and cut gradient. */
  submit(req: StepRequest): Promise<StepReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...req, resolve, reject });
      void this.drain();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /**
   * Runs `fn` between two server steps, with no step in progress (e.g. to snapshot the adapter
   * and optimizer state for a checkpoint: no half-applied update can slip in between tensors).
   */
  between<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.exclusive.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 || this.exclusive.length > 0) {
        const job = this.exclusive.shift();
        if (job) {
          await job.fn().then(job.resolve, job.reject);
          continue;
        }
        const group = this.queue.splice(0, this.opts.batching ? this.opts.maxGroup : 1);
        try {
          const replies = await this.step(group);
          group.forEach((p, j) => p.resolve(replies[j]));
        } catch (e) {
          for (const p of group) p.reject(e);
        }
        // Let socket handlers enqueue more work between steps.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
  }

  private async step(group: StepRequest[]): Promise<StepReply[]> {
    const t0 = performance.now();
    const d = this.model.config.nEmbd;
    const n = group.length;
    const T = Math.max(...group.map((g) => g.acts.shape[1]));
    const rows = group.reduce((s, g) => s + g.acts.shape[0], 0);
    // Pack [Σ B_c, T, d] with zero padding; weights give each client's rows mask/Σmask_c/n.
    const acts = new Float32Array(rows * T * d);
    const targets = new Int32Array(rows * T);
    const weights = new Float32Array(rows * T);
    let r0 = 0;
    for (const g of group) {
      const [B, Tc] = g.acts.shape;
      const w = maskWeights(g.mask);
      for (let b = 0; b < B; b++) {
        acts.set(g.acts.data.subarray(b * Tc * d, (b + 1) * Tc * d), (r0 + b) * T * d);
        targets.set(g.targets.subarray(b * Tc, (b + 1) * Tc), (r0 + b) * T);
        for (let t = 0; t < Tc; t++) weights[(r0 + b) * T + t] = w[b * Tc + t] / n;
      }
      r0 += B;
    }
    const input = tf.tensor3d(acts, [rows, T, d]);
    const seed = (this.opts.seed * 1_000_003 + this.stats.serverSteps) % 2147483647;
    const { rowLoss, gradActs } = await this.model.step(input, targets, weights, { smoothing: this.opts.smoothing, dropoutSeed: seed });
    input.dispose();
    const all = (await gradActs.data()) as Float32Array;
    gradActs.dispose();

    // Unpack each client's rows and undo the 1/n.
    const replies: StepReply[] = [];
    r0 = 0;
    let tokens = 0;
    for (const g of group) {
      const [B, Tc] = g.acts.shape;
      const grad = new Float32Array(B * Tc * d);
      let lossC = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) lossC += rowLoss[(r0 + b) * T + t] * n;
        const src = all.subarray((r0 + b) * T * d, (r0 + b) * T * d + Tc * d);
        for (let j = 0; j < src.length; j++) grad[b * Tc * d + j] = src[j] * n;
      }
      r0 += B;
      tokens += B * Tc;
      replies.push({ loss: lossC, grad: { shape: [B, Tc, d], data: grad } });
    }
    this.stats.serverSteps += 1;
    this.stats.tokens += tokens;
    this.stats.busyMs += performance.now() - t0;
    return replies;
  }
}
