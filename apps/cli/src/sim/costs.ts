// What each method costs a client: trainable parameters, FLOPs per local step, bytes per message
// and peak tfjs memory. FLOPs come from flops.ts (matmuls only; multiply-add = 2).
import * as tf from '@tensorflow/tfjs';
import {
  ClientModel, FullModel, SPLITLORA_ADAMW, clientTensorNames, disposeWeights, initLora, loraShapes, numel, toWeights,
  type GPT2Config, type LoraConfig, type TensorRecord,
} from '@splitlora/model';
import { PROTOCOL_VERSION, encodeTensor, type WireFormat } from '@splitlora/protocol';
import { trainStepFlops } from '../flops';
import type { Method, SimModel, TrainSettings } from './types';
import { messageBytes } from './wire-meter';

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

export interface StepFlops {
  /** One local step on one client. SplitLoRA: client forward, the recomputed forward and backward. */
  client: number;
  /** The server's (SplitLoRA) or the central machine's (CenLoRA) work for one client step. */
  server: number;
}

export function stepFlops(method: Method, cfg: GPT2Config, lora: LoraConfig, cut: number, B: number, T: number): StepFlops {
  const full = trainStepFlops(cfg, lora, B, T).total;
  if (method === 'fed') return { client: full, server: 0 };
  if (method === 'cen') return { client: 0, server: full };
  const c = blockFlops(cfg, lora, cut, B, T);
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

/** Bytes of each message as the protocol frames it, for batches B × T. CenLoRA: none (its data upload is counted apart). */
export function messageSizes(method: Method, cfg: GPT2Config, lora: LoraConfig, cut: number, B: number, T: number, wire: WireFormat): MessageSizes {
  if (method === 'cen') return { stepUp: 0, stepDown: 0, aggUp: 0, aggDown: 0 };
  const to = method === 'split' ? cut : cfg.nLayer;
  const adapter = zeroAdapter(cfg, lora, 0, to);
  const aggUp = messageBytes('adapter', { v: PROTOCOL_VERSION, runId: RUN_ID, round: 0, examples: 100, localSteps: 10, tensors: adapter }, true);
  const aggDown = messageBytes('aggregate', { v: PROTOCOL_VERSION, runId: RUN_ID, round: 0, tensors: adapter, participants: 3 }, false);
  if (method === 'fed') return { stepUp: 0, stepDown: 0, aggUp, aggDown };
  const n = B * T * cfg.nEmbd;
  const t = encodeTensor({ shape: [B, T, cfg.nEmbd], data: new Float32Array(n) }, wire);
  const stepUp = messageBytes('activations', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, round: 0, batch: B, seqLen: T, acts: t, targets: new Int32Array(B * T), mask: new Float32Array(B * T) }, true);
  const stepDown = messageBytes('gradient', { v: PROTOCOL_VERSION, runId: RUN_ID, step: 0, grad: t, loss: 1 }, false);
  return { stepUp, stepDown, aggUp, aggDown };
}

/** What a client downloads once: the client part (SplitLoRA) or the whole model (FedLoRA), float32. */
export function modelDownloadBytes(method: Method, model: SimModel, cut: number): number {
  if (method === 'cen') return 0;
  const names = method === 'split' ? clientTensorNames(model.config, cut) : Object.keys(model.weights);
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
    const names = kind === 'client-part' ? clientTensorNames(config, s.cut) : Object.keys(model.weights);
    const weights = toWeights(Object.fromEntries(names.map((n) => [n, model.weights[n]])));
    const optimizer = { lr: s.lr, ...SPLITLORA_ADAMW };
    try {
      if (kind === 'client-part') {
        const m = new ClientModel(config, weights, s.cut, { lora: s.lora, optimizer, adapter: initLora(config, s.lora, 0, s.cut, s.seed) });
        const acts = m.forward(ids, B, T, 1);
        await acts.data();
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
