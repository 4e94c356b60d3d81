// Node: load/save a Hugging Face GPT-2 directory (config.json + model.safetensors).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeTensor, type Dtype, type TensorRecord } from '@splitlora/tensor';
import type { GPT2Config } from '../config';
import { CheckpointError } from './errors';
import { openSafetensorsFile } from './file-range-node';
import { planGpt2Load, saveGpt2Files, type Gpt2Checkpoint, type LoadOptions } from './hf-gpt2';

/** Reads config.json and only the included tensors' byte ranges of model.safetensors. */
export async function loadGpt2Dir(dir: string, opts: LoadOptions = {}): Promise<Gpt2Checkpoint> {
  const configPath = resolve(dir, 'config.json');
  const configText = await readText(configPath);
  const file = await openSafetensorsFile(resolve(dir, 'model.safetensors'));
  try {
    const plan = planGpt2Load(configText, file.header, opts, file.path);
    const weights: TensorRecord = {};
    for (const { name, key, info } of plan.entries) weights[name] = decodeTensor(key, info, await file.read(info));
    return { config: plan.config, weights };
  } finally {
    await file.close();
  }
}

/** Writes config.json and model.safetensors (via temp files + rename, so a crash leaves no half file). */
export async function saveGpt2Dir(dir: string, config: GPT2Config, weights: TensorRecord, dtype: Dtype = 'F32'): Promise<void> {
  const { configJson, safetensors } = saveGpt2Files(config, weights, dtype);
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, 'model.safetensors'), safetensors);
  await writeAtomic(join(dir, 'config.json'), JSON.stringify(configJson, null, 2) + '\n');
}

export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError('MISSING_FILE', `file not found: ${path}`, { cause: e });
    throw e;
  }
}

export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
