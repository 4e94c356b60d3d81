// The cost model of one LoRA training step and of each method: FLOPs (analytic, matmuls only),
// trainable parameters, bytes per message and peak tfjs memory.
//
// FLOPs per step of B rows × T positions (N = B·T tokens), width d, L blocks, vocabulary V:
//   forward
//     blocks     L · 24·N·d²      c_attn 6d², attn.c_proj 2d², mlp.c_fc 8d², mlp.c_proj 8d² per token
//     attention  L · 4·N·T·d      QKᵀ and softmax·V; tfjs computes the full T×T scores, masked or not
//     LoRA       L · Σ_targets 2·N·r·(d_in + d_out)
//     LM head    2·M·d·V          tied to wte, on the M ≤ N rows the loss mask covers (M = N without a mask)
//   backward: the base weights are frozen, so each frozen-weight matmul needs only its input
//     gradient (1× its forward: no weight gradient, unlike the usual "backward = 2× forward");
//     attention products and LoRA matmuls need both operands' gradients (2× their forward).
//     Hence backward ≈ forward + the attention and LoRA terms once more.
// Elementwise work (LayerNorm, GELU, softmax, the loss over N×V logits) is not counted: it is
// memory-bound, and its time shows up as the gap between achieved and plain-matmul FLOP rates.
import * as tf from '@tensorflow/tfjs';
import {
  ClientModel, FullModel, SPLITLORA_ADAMW, clientTensorNames, disposeWeights, initLora, loraDims, loraShapes, numel, toWeights,
  type GPT2Config, type LoraConfig, type TensorRecord,
} from '@splitlora/model';
import { PROTOCOL_VERSION, encodeTensor, type WireFormat } from '@splitlora/protocol';
import type { Method, SimModel, TrainSettings } from './sim/types';
import { messageBytes } from './sim/wire-meter';

export interface StepFlops {
  forward: number;
  backward: number;
  /** forward + backward */
  total: number;
  /** The LM head's share of `total` (forward 2NdV + input gradient 2NdV). */
  head: number;
}

/** `headRows`: how many of the batch·seqLen rows the head and loss run on (default all). */
export function trainStepFlops(cfg: GPT2Config, lora: Pick<LoraConfig, 'r' | 'targets'>, batch: number, seqLen: number, headRows = batch * seqLen): StepFlops {
  const { nEmbd: d, nLayer: L, vocabSize: V } = cfg;
  const N = batch * seqLen;
  if (!(headRows >= 0 && headRows <= N)) throw new Error(`flops: headRows ${headRows} must be within 0..${N}`);
  const linear = 24 * N * d * d;
  const attention = 4 * N * seqLen * d;
  let loraFwd = 0;
  for (const t of lora.targets) {
    const [din, dout] = loraDims(t, d);
    loraFwd += 2 * N * lora.r * (din + dout);
  }
  const head = 2 * headRows * d * V;
  const forward = L * (linear + attention + loraFwd) + head;
  const backward = L * (linear + 2 * attention + 2 * loraFwd) + head;
  return { forward, backward, total: forward + backward, head: 2 * head };
}

/** FLOPs of an [m, k] · [k, n] product. */
export function matmulFlops(m: number, k: number, n: number): number {
  return 2 * m * k * n;
}

// ---- per method: what a client and the server spend per step, message sizes, memory ----------

const RUN_ID = 'run-0000000000-000000'; // as long as the server's run ids

export function adapterParams(cfg: GPT2Config, lora: LoraConfig, from: number, to: number): number {
  return Object.values(loraShapes(cfg, lora, from, to)).reduce((n, s) => n + numel(s), 0);
}

/** Forward and backward FLOPs of `blocks` transformer blocks alone (no LM head), B rows × T positions. */
export function blockFlops(cfg: GPT2Config, lora: LoraConfig, blocks: number, B: number, T: number): { forward: number; backward: number } {
  const withBlocks = trainStepFlops({ ...cfg, nLayer: blocks }, lora, B, T);
  const headOnly = trainStepFlops({ ...cfg, nLayer: 0 }, lora, B, T);
  return { forward: withBlocks.forward - headOnly.forward, backward: withBlocks.backward - headOnly.backward };
}

export interface MethodStepFlops {
  /** One local step on one client. SplitLoRA: client forward, the recomputed forward and backward. */
  client: number;
  /** The server's (SplitLoRA) or the central machine's (CenLoRA) work for one client step. */
  server: number;
}

/**
 * `labels: "client"` (the U-shaped split): the client also runs ln_f, the tied head and the loss
 * (forward and ∂loss/∂h_L: 4·N·d·V), and the server, which holds no tape across the second round
 * trip, recomputes its blocks' forward in backward (2·forward + backward of blocks [k, L)).
 */
export function stepFlops(method: Method, cfg: GPT2Config, lora: LoraConfig, cut: number, B: number, T: number, labels: 'server' | 'client' = 'server'): MethodStepFlops {
  const full = trainStepFlops(cfg, lora, B, T).total;
  if (method === 'fed') return { client: full, server: 0 };
  if (method === 'cen') return { client: 0, server: full };
  const c = blockFlops(cfg, lora, cut, B, T);
  if (labels === 'client') {
    const s = blockFlops(cfg, lora, cfg.nLayer - cut, B, T);
    return { client: 2 * c.forward + c.backward + trainStepFlops({ ...cfg, nLayer: 0 }, lora, B, T).total, server: 2 * s.forward + s.backward };
  }
  return { client: 2 * c.forward + c.backward, server: trainStepFlops({ ...cfg, nLayer: cfg.nLayer - cut }, lora, B, T).total };
}

/** Zeros shaped like an adapter, for sizing messages. */
function zeroAdapter(cfg: GPT2Config, lora: LoraConfig, from: number, to: number): TensorRecord {
  return Object.fromEntries(Object.entries(loraShapes(cfg, lora, from, to)).map(([k, shape]) => [k, { shape, data: new Float32Array(numel(shape)) }]));
}

export interface MessageSizes {
  /** Per client per local step (SplitLoRA: activations up, gradient down). */
  stepUp: number;
  stepDown: number;
  /** Per client per aggregation (adapter up, average down). */
  aggUp: number;
  aggDown: number;
}

/**
 * Bytes of each message as the protocol frames it, for batches B × T. CenLoRA: none (its data upload
 * is counted apart). U-shaped (`labels: "client"`): front + top-gradient up, top + front-gradient down.
 */
export function messageSizes(method: Method, cfg: GPT2Config, lora: LoraConfig, cut: number, B: number, T: number, wire: WireFormat, labels: 'server' | 'client' = 'server'): MessageSizes {
  if (method === 'cen') return { stepUp: 0, stepDown: 0, aggUp: 0, aggDown: 0 };
  const to = method === 'split' ? cut : cfg.nLayer;
  const adapter = zeroAdapter(cfg, lora, 0, to);
  const aggUp = messageBytes('adapter', { v: PROTOCOL_VERSION, runId: RUN_ID, round: 0, examples: 100, localSteps: 10, tensors: adapter }, true);
  const aggDown = messageBytes('aggregate', { v: PROTOCOL_VERSION, runId: RUN_ID, round: 0, tensors: adapter, participants: 3 }, false);
  if (method === 'fed') return { stepUp: 0, stepDown: 0, aggUp, aggDown };
  const n = B * T * cfg.nEmbd;
  const t = encodeTensor({ shape: [B, T, cfg.nEmbd], data: new Float32Array(n) }, wire);
  if (labels === 'client') {
    const up = messageBytes('front', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, round: 0, batch: B, seqLen: T, acts: t }, true)
      + messageBytes('top-gradient', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, grad: t }, true);
    const down = messageBytes('top', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, top: t }, false)
      + messageBytes('front-gradient', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, grad: t }, false);
    return { stepUp: up, stepDown: down, aggUp, aggDown };
  }
  const stepUp = messageBytes('activations', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, round: 0, batch: B, seqLen: T, acts: t, targets: new Int32Array(B * T), mask: new Float32Array(B * T) }, true);
  const stepDown = messageBytes('gradient', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, grad: t, loss: 1 }, false);
  return { stepUp, stepDown, aggUp, aggDown };
}

/** What a client downloads once: the client part (SplitLoRA) or the whole model (FedLoRA), float32. */
export function modelDownloadBytes(method: Method, model: SimModel, cut: number, labels: 'server' | 'client' = 'server'): number {
  if (method === 'cen') return 0;
  const names = method === 'split' ? clientTensorNames(model.config, cut, { head: labels === 'client' }) : Object.keys(model.weights);
  return names.reduce((s, n) => s + 4 * numel(model.weights[n].shape), 0);
}

/**
 * Peak tfjs memory (tf.memory().numBytes, measured through tf.profile) of one training step on
 * the device that trains on a client's data, from nothing: its frozen weights, adapter, AdamW
 * state and the step's intermediates, for a B × T batch. SplitLoRA: the client part (forward,
 * then backward with a gradient of the cut shape); FedLoRA and CenLoRA's central machine: the
 * whole model. Backend-internal scratch memory (e.g. wasm heap growth) is not counted.
 */
export async function peakTrainingBytes(kind: 'client-part' | 'whole', model: SimModel, s: TrainSettings, T: number): Promise<number> {
  const { config } = model;
  const B = s.batch;
  const start = tf.memory().numBytes;
  const ids = Int32Array.from({ length: B * T }, (_, j) => (j * 7919 + 13) % config.vocabSize);
  const info = await tf.profile(async () => {
    const u = s.labels === 'client'; // the U-shaped client also runs ln_f, the tied head and the loss
    const names = kind === 'client-part' ? clientTensorNames(config, s.cut, { head: u }) : Object.keys(model.weights);
    const weights = toWeights(Object.fromEntries(names.map((n) => [n, model.weights[n]])));
    const optimizer = { lr: s.lr, ...SPLITLORA_ADAMW };
    try {
      if (kind === 'client-part') {
        const m = new ClientModel(config, weights, s.cut, { lora: s.lora, optimizer, adapter: initLora(config, s.lora, 0, s.cut, s.seed) });
        const acts = m.forward(ids, B, T, 1);
        await acts.data();
        if (u) {
          const targets = Int32Array.from(ids, (x) => (x + 1) % config.vocabSize);
          const head = m.topGrad(acts, targets, new Float32Array(B * T).fill(1), s.labelSmoothing); // h_L stands in for the server's: same shape
          await head.gradTop.data();
          tf.dispose([head.loss, head.gradTop]);
        }
        const grad = tf.fill(acts.shape, 1e-4); // ∂loss/∂acts: values do not change the cost
        acts.dispose();
        m.backward(ids, B, T, 1, grad);
        await Object.values(m.vars)[0].data();
        grad.dispose();
        m.dispose();
      } else {
        const m = new FullModel(config, weights, { lora: s.lora, optimizer, adapter: initLora(config, s.lora, 0, config.nLayer, s.seed) });
        const targets = Int32Array.from(ids, (x) => (x + 1) % config.vocabSize);
        await m.step({ ids, targets, mask: new Float32Array(B * T).fill(1), batch: B, seqLen: T }, { smoothing: s.labelSmoothing, dropoutSeed: 1 });
        m.dispose();
      }
    } finally {
      disposeWeights(weights);
    }
  });
  return Math.max(0, info.peakBytes - start);
}
