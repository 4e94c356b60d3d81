// Host-side tensors: plain Float32Arrays with a shape. Used for checkpoints, adapters on the wire
// and aggregation, so that code which does not compute never needs tfjs.

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Tensors keyed by name, e.g. "h.0.attn.c_attn.weight" or "h.0.q.lora_A". */
export type TensorRecord = Record<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
