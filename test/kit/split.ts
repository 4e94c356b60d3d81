// The small model, LoRA settings and random adapters the split tests (packages/model) share.
import { initLora, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';

export const cfg: GPT2Config = { vocabSize: 97, nPositions: 32, nEmbd: 16, nLayer: 4, nHead: 2, layerNormEps: 1e-5 };
export const loraCfg: LoraConfig = { r: 2, alpha: 8, dropout: 0.1, targets: ['q', 'v', 'mlp.c_fc'] };
export const optimizer = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };

// B starts at zero in a real init, which would make every A-gradient zero; use random B here.
export function randomAdapter(seed: number): TensorRecord {
  const rec = initLora(cfg, loraCfg, 0, cfg.nLayer, seed);
  let x = seed;
  for (const [k, t] of Object.entries(rec)) if (k.endsWith('lora_B')) t.data = t.data.map(() => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2);
  return rec;
}
