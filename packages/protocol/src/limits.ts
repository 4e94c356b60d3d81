// Sizing socket.io's `maxHttpBufferSize` on purpose. engine.io applies it to every message on
// both transports (default 1 MB, while one GPT-2 S activation message at B=8, T=128 is 3.1 MB).
// The limit is the largest legitimate client→server message times a margin, plus a fixed
// allowance for msgpack headers and the small fields:
//
//   activations = B·T·d·4 (f32 acts, the largest format) + B·T·4 (int32 targets) + B·T·4 (f32 mask)
//   adapter     = 3 · (adapterParams·4 + 128 bytes per tensor)   (the adapter and its AdamW m, v)
//   limit       = ceil(max(activations, adapter) · margin) + 64 KiB        (margin 1.25)
//
// HTTP long-polling sends binary as base64 (4/3 larger), so pass `polling: true` if clients may
// fall back to it; with `transports: ['websocket']` leave it false. Anything above the limit is
// refused by engine.io, which closes that client's connection; no other client is affected.

export interface MessageSizeInput {
  batch: number;
  seqLen: number;
  dModel: number;
  /** Total LoRA parameters one client uploads (sum over tensors of numel). */
  adapterParams: number;
  /** Number of adapter tensors, for per-tensor overhead (default 0). */
  adapterTensors?: number;
  /** Multiplier on the largest message (default 1.25). */
  margin?: number;
  /** True when clients may use HTTP long-polling, which base64-encodes binary (×4/3). */
  polling?: boolean;
}

export const MESSAGE_OVERHEAD_BYTES = 64 * 1024;
export const DEFAULT_SIZE_MARGIN = 1.25;

/** Bytes of one f32 activations message's tensors (acts + targets + mask), before margin. */
export function activationBytes(batch: number, seqLen: number, dModel: number): number {
  const n = batch * seqLen;
  return n * dModel * 4 + n * 4 + n * 4;
}

export function maxMessageBytes(input: MessageSizeInput): number {
  const { batch, seqLen, dModel, adapterParams, adapterTensors = 0, margin = DEFAULT_SIZE_MARGIN } = input;
  for (const [k, v] of Object.entries({ batch, seqLen, dModel, adapterParams, adapterTensors })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`maxMessageBytes: ${k} must be a non-negative integer, got ${v}`);
  }
  if (!(margin >= 1)) throw new Error(`maxMessageBytes: margin must be ≥ 1, got ${margin}`);
  const acts = activationBytes(batch, seqLen, dModel);
  // An adapter upload carries the client's AdamW moments too (ClientStateSchema): three tensors per name.
  const adapter = 3 * (adapterParams * 4 + adapterTensors * 128);
  const base = Math.max(acts, adapter) * (input.polling ? 4 / 3 : 1);
  return Math.ceil(base * margin) + MESSAGE_OVERHEAD_BYTES;
}
