// Analytic FLOP counts for one LoRA training step (multiply-add = 2 FLOPs; matmuls only).
//
// Per step of B rows × T positions (N = B·T tokens), width d, L blocks, vocabulary V:
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
import type { GPT2Config, LoraConfig } from '@splitlora/model';
import { loraDims } from '@splitlora/model';

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
