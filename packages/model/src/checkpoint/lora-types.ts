// Our internal LoRA layout, shared by the model code and adapter I/O.
// Keys "h.{i}.{target}.lora_A" [d_in, r] and "h.{i}.{target}.lora_B" [r, d_out]; the target's
// output gains x[N, d_in] @ A @ B · (alpha / r).

/** q, k, v are d-wide column slices of c_attn's output: q = [0, d), k = [d, 2d), v = [2d, 3d). */
export type LoraTarget = 'c_attn' | 'q' | 'k' | 'v' | 'attn.c_proj' | 'mlp.c_fc' | 'mlp.c_proj';

export const LORA_TARGETS: readonly LoraTarget[] = ['c_attn', 'q', 'k', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Dropout on the LoRA input during training. */
  dropout: number;
  targets: LoraTarget[];
}

export function isLoraTarget(s: string): s is LoraTarget {
  return (LORA_TARGETS as readonly string[]).includes(s);
}

export function loraKey(block: number, target: LoraTarget, which: 'A' | 'B'): string {
  return `h.${block}.${target}.lora_${which}`;
}

const KEY = /^h\.(\d+)\.(c_attn|q|k|v|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.lora_(A|B)$/;

export function parseLoraKey(key: string): { block: number; target: LoraTarget; which: 'A' | 'B' } | undefined {
  const m = KEY.exec(key);
  return m ? { block: Number(m[1]), target: m[2] as LoraTarget, which: m[3] as 'A' | 'B' } : undefined;
}

/** [d_in, d_out] of a target for model width d. */
export function loraDims(target: LoraTarget, d: number): [number, number] {
  switch (target) {
    case 'c_attn': return [d, 3 * d];
    case 'mlp.c_fc': return [d, 4 * d];
    case 'mlp.c_proj': return [4 * d, d];
    default: return [d, d]; // q, k, v, attn.c_proj
  }
}

/** Column offset of a target inside c_attn's [.., 3d] output (0 for the fused c_attn itself). */
export function qkvOffset(target: 'c_attn' | 'q' | 'k' | 'v', d: number): number {
  return target === 'k' ? d : target === 'v' ? 2 * d : 0;
}
