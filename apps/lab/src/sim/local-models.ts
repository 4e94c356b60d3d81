// Helpers for the methods that train whole models in this process (CenLoRA, FedLoRA).
import { FullModel, SPLITLORA_ADAMW, initLora, type Weights } from '@splitlora/model';
import type { SimModel, TrainSettings } from './types';

/** A whole model with the shared adapter init (the same tensors SplitLoRA's client and server start from). */
export function newFullModel(model: SimModel, weights: Weights, s: TrainSettings): FullModel {
  const { config } = model;
  return new FullModel(config, weights, {
    lora: s.lora,
    optimizer: { lr: s.lr, ...SPLITLORA_ADAMW },
    adapter: initLora(config, s.lora, 0, config.nLayer, s.seed),
  });
}

/** Whether a checkpoint is due after `round` of `rounds` aggregations. */
export function checkpointDue(round: number, rounds: number, evalEvery: number): boolean {
  return round % evalEvery === 0 || round === rounds;
}
