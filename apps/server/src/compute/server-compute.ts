// The server submodel as a compute service: one batched SplitLoRA server step, snapshots of its
// adapter and optimizer, and restores. LocalServerCompute runs it in this thread (the compute
// worker hosts one, benches use it directly); WorkerServerCompute (compute-worker.ts) is the same
// interface over messages to a worker thread, and ComputePool (compute-pool.ts) spreads one step's
// rows over several workers (rowGrads on each, then applyGrads of the sum on every replica).
//
// Batching: the group's activations run as one forward/backward. Rows are padded to the longest
// sequence (padding sits after each row's tokens and has mask 0, so the causal mask keeps it from
// touching real positions). The server loss is the mean of the clients' own losses,
// (1/n)·Σ_c loss_c, so one batched update equals one step on an effective batch of n·B rows at the
// same learning rate. Each client gets ∂loss_c/∂acts_c, exactly the gradient it would get alone.
//
// U-shaped split (labels "client"): forwardTop runs a group's activations through blocks [k, L)
// and returns h_L; each client's input is held here, keyed by client and step, until its
// ∂loss/∂h_L comes back (backwardTop) or it is dropped (dropHeld: timeout, disconnect, a new
// front for the same client). backwardTop groups whoever has answered: every client forward has
// its own dropout seed (from the part's forward count, LoraDropout.segments), so its masks do not
// depend on the group it lands in. The update is one AdamW step on (1/n)·Σ_c ∂loss_c, as in the
// batched SplitLoRA step, and each client gets exactly ∂loss_c/∂h_k.
import * as tf from '@tensorflow/tfjs';
import { MiddleModel, ServerModel, SPLITLORA_ADAMW, linearSchedule, maskWeights, type GPT2Config, type LoraConfig, type TensorRecord, type Weights } from '@splitlora/model';

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

type Host = { shape: number[]; data: Float32Array };

/** U-shaped round trip 1: a client's cut activations [B, T, d] for blocks [k, L). */
export interface ForwardRequest {
  clientId: string;
  step: number;
  acts: Host;
}

/** h_L [B, T, d]. */
export interface ForwardReply {
  top: Host;
}

/** U-shaped round trip 2: ∂loss/∂h_L [B, T, d] for the held forward of (clientId, step). */
export interface BackwardRequest {
  clientId: string;
  step: number;
  grad: Host;
}

/** ∂loss/∂h_k [B, T, d]. */
export interface BackwardReply {
  grad: Host;
}

export interface ComputeStats {
  serverSteps: number;
  tokens: number;
  /** U-shaped runs: client forwards so far; forward n's dropout masks are seeded by n, so a redone step after a rewind gets the same ones. */
  forwards?: number;
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
  /** "client": the U-shaped split, blocks [k, L) only (forwardTop/backwardTop); default "server". */
  labels?: 'server' | 'client';
  /** Start here instead of a fresh adapter (a resumed run). */
  from?: ServerSnapshot;
}

export interface ServerCompute {
  step(group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }>;
  forwardTop(group: ForwardRequest[]): Promise<{ replies: ForwardReply[]; busyMs: number }>;
  /** A reply per request: null where no forward is held for it (dropped, or never sent). */
  backwardTop(group: BackwardRequest[]): Promise<{ replies: (BackwardReply | null)[]; busyMs: number }>;
  /** Frees the held forwards of one client (or of all, with null). */
  dropHeld(clientId: string | null): Promise<void>;
  snapshot(): Promise<ServerSnapshot>;
  restore(s: ServerSnapshot): Promise<void>;
  dispose(): Promise<void>;
}

/** A group packed into one batch [rows, T, d] (T the longest), zero padding after each row's tokens. */
export interface PackedStep {
  acts: Float32Array;
  targets: Int32Array;
  /** Row weights [rows·T]: client c's rows get mask/Σmask_c/n, so the loss is the mean of the clients' losses. */
  weights: Float32Array;
  rows: number;
  T: number;
  /** Clients in the group. */
  n: number;
}

/** Rows [row0, row0+rows) of a PackedStep: one pool worker's share. */
export interface RowSlice {
  row0: number;
  rows: number;
  T: number;
  /** [rows, T, d] */
  acts: Float32Array;
  targets: Int32Array;
  weights: Float32Array;
}

/** Gradients of a RowSlice's share of the loss (sums over its rows, so the slices' sum is the step's). */
export interface RowGrads {
  grads: TensorRecord;
  /** [rows·T] weighted row losses. */
  rowLoss: Float32Array;
  /** [rows, T, d] */
  gradActs: Float32Array;
  busyMs: number;
}

/** Packs a step's clients into one batch (LocalServerCompute.step, and a pool before it slices). */
export function packStep(group: StepRequest[], d: number): PackedStep {
  const n = group.length;
  const T = Math.max(...group.map((g) => g.acts.shape[1]));
  const rows = group.reduce((s, g) => s + g.acts.shape[0], 0);
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
  return { acts, targets, weights, rows, T, n };
}

/** Each client's loss and ∂loss_c/∂acts_c from a packed step's rowLoss [rows·T] and ∂loss/∂acts [rows, T, d], undoing the 1/n. */
export function unpackStep(group: StepRequest[], p: PackedStep, rowLoss: Float32Array, gradActs: Float32Array, d: number): { replies: StepReply[]; tokens: number } {
  const { T, n } = p;
  const replies: StepReply[] = [];
  let r0 = 0;
  let tokens = 0;
  for (const g of group) {
    const [B, Tc] = g.acts.shape;
    const grad = new Float32Array(B * Tc * d);
    let lossC = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) lossC += rowLoss[(r0 + b) * T + t] * n;
      const src = gradActs.subarray((r0 + b) * T * d, (r0 + b) * T * d + Tc * d);
      for (let j = 0; j < src.length; j++) grad[b * Tc * d + j] = src[j] * n;
    }
    r0 += B;
    tokens += B * Tc;
    replies.push({ loss: lossC, grad: { shape: [B, Tc, d], data: grad } });
  }
  return { replies, tokens };
}

/** Held forwards per part, at most: a client holds one (a new front replaces it), so this bounds a flood. */
const MAX_HELD = 4096;

/** The server dropout seed of the n-th client forward of a U-shaped run. */
export function topDropoutSeed(runSeed: number, forward: number): number {
  return (Math.imul(runSeed + 1, 0x9e3779b1) + Math.imul(forward, 0x85ebca6b) >>> 0) % 2147483647;
}

export class LocalServerCompute implements ServerCompute {
  readonly model: ServerModel | MiddleModel;
  readonly stats: ComputeStats = { serverSteps: 0, tokens: 0 };
  /** U-shaped: each client's forward input, until its ∂loss/∂h_L arrives. Key `${clientId}\u0000${step}`. */
  private readonly held = new Map<string, { clientId: string; acts: Host; seed: number }>();

  constructor(weights: Weights, readonly spec: ServerPartSpec) {
    const s = spec.schedule;
    const opts = {
      lora: spec.lora,
      seed: spec.seed,
      adapter: spec.from?.adapter,
      optimizer: { lr: spec.lr, ...SPLITLORA_ADAMW, schedule: s.kind === 'linear' ? linearSchedule(s.warmup, s.total) : undefined },
    };
    this.model = spec.labels === 'client' ? new MiddleModel(spec.config, weights, spec.cut, opts) : new ServerModel(spec.config, weights, spec.cut, opts);
    if (spec.labels === 'client') this.stats.forwards = 0;
    // The optimizer's step count also drives the lr schedule, so it continues where it was.
    if (spec.from) {
      this.model.optimizer.importState(spec.from.optimizer);
      Object.assign(this.stats, spec.from.stats);
    }
  }

  async step(group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }> {
    const model = this.server();
    const t0 = performance.now();
    const p = packStep(group, this.spec.config.nEmbd);
    const input = tf.tensor3d(p.acts, [p.rows, p.T, this.spec.config.nEmbd]);
    let out: Awaited<ReturnType<ServerModel['step']>>;
    try {
      out = await model.step(input, p.targets, p.weights, { smoothing: this.spec.smoothing, dropoutSeed: this.stepSeed() });
    } finally {
      input.dispose();
    }
    const all = (await out.gradActs.data()) as Float32Array;
    out.gradActs.dispose();
    const { replies, tokens } = unpackStep(group, p, out.rowLoss, all, this.spec.config.nEmbd);
    this.stats.serverSteps += 1;
    this.stats.tokens += tokens;
    return { replies, busyMs: performance.now() - t0 };
  }

  /**
   * One worker's share of a step spread over a pool (compute-pool.ts): adapter gradients, rowLoss
   * and ∂loss/∂acts of rows [row0, row0+rows) of the packed step, with the whole step's dropout
   * masks. Nothing is applied; applyGrads does that with the pool's sum.
   */
  async rowGrads(slice: RowSlice): Promise<RowGrads> {
    const model = this.server();
    const t0 = performance.now();
    const input = tf.tensor3d(slice.acts, [slice.rows, slice.T, this.spec.config.nEmbd]);
    let out: ReturnType<ServerModel['grads']>;
    try {
      out = model.grads(input, slice.targets, slice.weights, { smoothing: this.spec.smoothing, dropoutSeed: this.stepSeed(), dropoutRowOffset: slice.row0 * slice.T });
    } finally {
      input.dispose();
    }
    const names = Object.keys(out.grads);
    const [gradActs, rowLoss, ...gs] = (await Promise.all([out.gradActs.data(), out.rowLoss.data(), ...names.map((n) => out.grads[n].data())])) as Float32Array[];
    const grads: TensorRecord = Object.fromEntries(names.map((n, j) => [n, { shape: out.grads[n].shape.slice(), data: gs[j] }]));
    tf.dispose([out.loss, out.rowLoss, out.gradActs, ...Object.values(out.grads)]);
    return { grads, rowLoss, gradActs, busyMs: performance.now() - t0 };
  }

  /** AdamW on a whole step's summed adapter gradients (every replica of a pool applies the same). */
  applyGrads(grads: TensorRecord, tokens: number): void {
    this.server();
    const ts = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
    try {
      this.model.optimizer.apply(this.model.vars, ts);
    } finally {
      tf.dispose(Object.values(ts));
    }
    this.stats.serverSteps += 1;
    this.stats.tokens += tokens;
  }

  /** The step's dropout seed: every replica of a pool has the same step count, so the same seed. */
  private stepSeed(): number {
    return (this.spec.seed * 1_000_003 + this.stats.serverSteps) % 2147483647;
  }

  private server(): ServerModel {
    if (!(this.model instanceof ServerModel)) throw new Error('this run keeps the labels in the clients (labels "client"): its steps are forward-top and backward-top');
    return this.model;
  }

  private middle(): MiddleModel {
    if (!(this.model instanceof MiddleModel)) throw new Error('this run computes the loss on the server (labels "server"): its steps are step requests');
    return this.model;
  }

  /** Packs [Σ B_c, T, d] (T the group's longest) with zero padding after each client's rows. */
  private pack(items: { shape: number[]; data: Float32Array }[]): { data: Float32Array; rows: number; T: number } {
    const d = this.spec.config.nEmbd;
    const T = Math.max(...items.map((g) => g.shape[1]));
    const rows = items.reduce((s, g) => s + g.shape[0], 0);
    const data = new Float32Array(rows * T * d);
    let r0 = 0;
    for (const g of items) {
      const [B, Tc] = g.shape;
      for (let b = 0; b < B; b++) data.set(g.data.subarray(b * Tc * d, (b + 1) * Tc * d), (r0 + b) * T * d);
      r0 += B;
    }
    return { data, rows, T };
  }

  /** Each item's rows of a packed [rows, T, d] result, unpadded, times `scale`. */
  private unpack(all: Float32Array, T: number, shapes: number[][], scale = 1): Host[] {
    const d = this.spec.config.nEmbd;
    let r0 = 0;
    return shapes.map(([B, Tc]) => {
      const out = new Float32Array(B * Tc * d);
      for (let b = 0; b < B; b++) {
        const src = all.subarray((r0 + b) * T * d, (r0 + b) * T * d + Tc * d);
        if (scale === 1) out.set(src, b * Tc * d);
        else for (let j = 0; j < src.length; j++) out[b * Tc * d + j] = src[j] * scale;
      }
      r0 += B;
      return { shape: [B, Tc, d], data: out };
    });
  }

  private segments(items: { shape: number[]; seed: number }[], T: number) {
    return items.map((g) => ({ seed: g.seed, batch: g.shape[0], seqLen: g.shape[1], paddedLen: T }));
  }

  async forwardTop(group: ForwardRequest[]): Promise<{ replies: ForwardReply[]; busyMs: number }> {
    const model = this.middle();
    const t0 = performance.now();
    const first = this.stats.forwards ?? 0;
    const items = group.map((g, j) => ({ ...g, shape: g.acts.shape, data: g.acts.data, seed: topDropoutSeed(this.spec.seed, first + j) }));
    const { data, rows, T } = this.pack(items);
    const input = tf.tensor3d(data, [rows, T, this.spec.config.nEmbd]);
    let all: Float32Array;
    try {
      const top = model.forward(input, { segments: this.segments(items, T) });
      all = (await top.data()) as Float32Array;
      top.dispose();
    } finally {
      input.dispose();
    }
    this.stats.forwards = first + items.length;
    for (const g of items) {
      for (const [k, h] of this.held) if (h.clientId === g.clientId) this.held.delete(k); // one forward per client
      if (this.held.size >= MAX_HELD) this.held.delete(this.held.keys().next().value!);
      this.held.set(`${g.clientId}\u0000${g.step}`, { clientId: g.clientId, acts: g.acts, seed: g.seed });
    }
    const replies = this.unpack(all, T, items.map((g) => g.shape)).map((top) => ({ top }));
    return { replies, busyMs: performance.now() - t0 };
  }

  async backwardTop(group: BackwardRequest[]): Promise<{ replies: (BackwardReply | null)[]; busyMs: number }> {
    const model = this.middle();
    const t0 = performance.now();
    const found = group.map((g) => {
      const key = `${g.clientId}\u0000${g.step}`;
      const h = this.held.get(key);
      this.held.delete(key);
      return h && h.acts.shape.join() === g.grad.shape.join() ? { ...h, grad: g.grad, shape: h.acts.shape } : null;
    });
    const items = found.filter((x): x is NonNullable<typeof x> => x !== null);
    if (items.length === 0) return { replies: group.map(() => null), busyMs: performance.now() - t0 };
    const n = items.length;
    const d = this.spec.config.nEmbd;
    const acts = this.pack(items.map((g) => g.acts));
    const dy = this.pack(items.map((g) => g.grad));
    // The server loss is the mean of the clients' losses: each ∂loss_c/∂h_L enters with 1/n.
    for (let j = 0; j < dy.data.length; j++) dy.data[j] /= n;
    const input = tf.tensor3d(acts.data, [acts.rows, acts.T, d]);
    const gradTop = tf.tensor3d(dy.data, [dy.rows, dy.T, d]);
    let all: Float32Array;
    try {
      const gradActs = model.step(input, gradTop, { segments: this.segments(items, acts.T) });
      all = (await gradActs.data()) as Float32Array;
      gradActs.dispose();
    } finally {
      tf.dispose([input, gradTop]);
    }
    const grads = this.unpack(all, acts.T, items.map((g) => g.shape), n);
    let j = 0;
    const replies = found.map((f) => (f ? { grad: grads[j++] } : null));
    this.stats.serverSteps += 1;
    this.stats.tokens += items.reduce((s, g) => s + g.shape[0] * g.shape[1], 0);
    return { replies, busyMs: performance.now() - t0 };
  }

  async dropHeld(clientId: string | null): Promise<void> {
    for (const [k, h] of this.held) if (clientId === null || h.clientId === clientId) this.held.delete(k);
  }

  /** Forwards held now (tests). */
  get heldCount(): number {
    return this.held.size;
  }

  async snapshot(): Promise<ServerSnapshot> {
    return { adapter: await this.model.adapter(), optimizer: await this.model.optimizer.exportState(), stats: { ...this.stats } };
  }

  async restore(s: ServerSnapshot): Promise<void> {
    this.held.clear(); // forwards of the abandoned steps: their clients redo them
    this.model.loadAdapter(s.adapter);
    this.model.optimizer.importState(s.optimizer);
    Object.assign(this.stats, s.stats);
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
