// The client submodel as files a browser can fetch: config.json and a safetensors file with only
// wte, wpe and blocks [0, k) (Hugging Face key names). The URL carries a content hash, so browsers
// can cache it forever and a second visit downloads nothing.
import { createHash } from 'node:crypto';
import { clientTensorNames, configToHf, writeSafetensors, type GPT2Config, type TensorRecord } from '@splitlora/model';

export interface ClientModelFiles {
  hash: string;
  config: Record<string, unknown>;
  safetensors: Uint8Array;
}

export function buildClientFiles(config: GPT2Config, weights: TensorRecord, cut: number): ClientModelFiles {
  const names = clientTensorNames(config, cut);
  const subset: TensorRecord = {};
  for (const n of names) subset[`transformer.${n}`] = weights[n];
  const safetensors = writeSafetensors(subset, { dtype: 'F32', metadata: { format: 'pt', 'splitlora.cut': String(cut) } });
  const hash = createHash('sha256').update(safetensors).digest('hex').slice(0, 16);
  return { hash, config: { ...configToHf(config), splitlora_cut: cut }, safetensors };
}
