// The server submodel as a compute service: one batched SplitLoRA server step, snapshots of its
// adapter and optimizer, and restores. LocalServerCompute runs it in this thread (the compute
// worker hosts one, benches use it directly); WorkerServerCompute (compute-worker.ts) is the same
// interface over messages to a worker thread.
//
// Batching: the group's activations run as one forward/backward. Rows are padded to the longest
// sequence (padding sits after each row's tokens and has mask 0, so the causal mask keeps it from
// touching real positions). The server loss is the mean of the clients' own losses,
// (1/n)·Σ_c loss_c, so one batched update equals one step on an effective batch of n·B rows at the
// same learning rate. Each client gets ∂loss_c/∂acts_c, exactly the gradient it would get alone.
import * as tf from '@tensorflow/tfjs';
import { ServerModel, SPLITLORA_ADAMW, linearSchedule, maskWeights, type GPT2Config, type LoraConfig, type TensorRecord, type Weights } from '@splitlora/model';

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

export interface ComputeStats {
  serverSteps: number;
  tokens: number;
}

/** Everything needed to put the server part back exactly where it was (a checkpoint's server half). */
export interface ServerSnapshot {
  adapter: TensorRecord;
  optimizer: { step: number; m: TensorRecord; v: TensorRecord };
  stats: ComputeStats;
}

/** Plain data (it crosses to a worker): what ServerModel needs besides the weights. */
export interface ServerPartSpec {
  config: GPT2Config;
  cut: number;
  lora: LoraConfig;
  seed: number;
  lr: number;
  /** Linear warm-up then decay to 0 (SplitLoRA's server schedule), or a constant lr. */
  schedule: { kind: 'linear'; warmup: number; total: number } | { kind: 'constant' };
  smoothing: number;
  /** Start here instead of a fresh adapter (a resumed run). */
  from?: ServerSnapshot;
}

export interface ServerCompute {
  step(group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }>;
  snapshot(): Promise<ServerSnapshot>;
  restore(s: ServerSnapshot): Promise<void>;
  dispose(): Promise<void>;
}

export class LocalServerCompute implements ServerCompute {
  readonly model: ServerModel;
  readonly stats: ComputeStats = { serverSteps: 0, tokens: 0 };

  constructor(weights: Weights, readonly spec: ServerPartSpec) {
    const s = spec.schedule;
    this.model = new ServerModel(spec.config, weights, spec.cut, {
      lora: spec.lora,
      seed: spec.seed,
      adapter: spec.from?.adapter,
      optimizer: { lr: spec.lr, ...SPLITLORA_ADAMW, schedule: s.kind === 'linear' ? linearSchedule(s.warmup, s.total) : undefined },
    });
    // The optimizer's step count also drives the lr schedule, so it continues where it was.
    if (spec.from) {
      this.model.optimizer.importState(spec.from.optimizer);
      Object.assign(this.stats, spec.from.stats);
    }
  }

  async step(group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }> {
    const t0 = performance.now();
    const d = this.spec.config.nEmbd;
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
    const seed = (this.spec.seed * 1_000_003 + this.stats.serverSteps) % 2147483647;
    let out: Awaited<ReturnType<ServerModel['step']>>;
    try {
      out = await this.model.step(input, targets, weights, { smoothing: this.spec.smoothing, dropoutSeed: seed });
    } finally {
      input.dispose();
    }
    const all = (await out.gradActs.data()) as Float32Array;
    out.gradActs.dispose();

    // Unpack each client's rows and undo the 1/n.
    const replies: StepReply[] = [];
    r0 = 0;
    let tokens = 0;
    for (const g of group) {
      const [B, Tc] = g.acts.shape;
      const grad = new Float32Array(B * Tc * d);
      let lossC = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) lossC += out.rowLoss[(r0 + b) * T + t] * n;
        const src = all.subarray((r0 + b) * T * d, (r0 + b) * T * d + Tc * d);
        for (let j = 0; j < src.length; j++) grad[b * Tc * d + j] = src[j] * n;
      }
      r0 += B;
      tokens += B * Tc;
      replies.push({ loss: lossC, grad: { shape: [B, Tc, d], data: grad } });
    }
    this.stats.serverSteps += 1;
    this.stats.tokens += tokens;
    return { replies, busyMs: performance.now() - t0 };
  }

  async snapshot(): Promise<ServerSnapshot> {
    return { adapter: await this.model.adapter(), optimizer: await this.model.optimizer.exportState(), stats: { ...this.stats } };
  }

  async restore(s: ServerSnapshot): Promise<void> {
    this.model.loadAdapter(s.adapter);
    this.model.optimizer.importState(s.optimizer);
    Object.assign(this.stats, s.stats);
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
