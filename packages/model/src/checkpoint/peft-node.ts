// Node: PEFT adapter directories (adapter_config.json + adapter_model.safetensors).
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TensorRecord } from '@splitlora/tensor';
import { CheckpointError } from './errors';
import { readText, writeAtomic } from './hf-gpt2-node';
import type { LoraConfig } from './lora-types';
import { adapterFromPeft, adapterToPeft, type PeftExportOptions } from './peft';

export async function saveAdapterDir(dir: string, lora: TensorRecord, cfg: LoraConfig, opts: PeftExportOptions = {}): Promise<void> {
  const { configJson, safetensors } = adapterToPeft(lora, cfg, opts);
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, 'adapter_model.safetensors'), safetensors);
  await writeAtomic(join(dir, 'adapter_config.json'), JSON.stringify(configJson, null, 2) + '\n');
}

export async function loadAdapterDir(dir: string): Promise<{ lora: TensorRecord; cfg: LoraConfig }> {
  const configText = await readText(resolve(dir, 'adapter_config.json'));
  const path = resolve(dir, 'adapter_model.safetensors');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path); // adapters are small: read whole
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError('MISSING_FILE', `file not found: ${path}`, { cause: e });
    throw e;
  }
  return adapterFromPeft(configText, bytes);
}
