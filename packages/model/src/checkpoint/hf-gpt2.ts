// Hugging Face GPT-2 checkpoints (config.json + model.safetensors) <-> GPT2Config + TensorRecord.
// Canonical names are HF's without the "transformer." prefix; Conv1D weights stay [in, out].
import {
  decodeTensor, parseHeader, tensorBytes, writeSafetensors,
  type Dtype, type SafetensorsHeader, type TensorInfo, type TensorRecord,
} from '@splitlora/tensor';
import { configFromHf, configToHf, validateConfig, type GPT2Config } from '../config';
import { CheckpointError, fmtShape, listNames } from './errors';

export interface LoadOptions {
  /** Selects canonical names to load; others are not decoded and not required. */
  include?: (name: string) => boolean;
}

export interface Gpt2Checkpoint {
  config: GPT2Config;
  weights: TensorRecord;
}

/** Every GPT-2 parameter's canonical name and shape, in model order (wte, wpe, h.0…, ln_f). */
export function gpt2ParamShapes(cfg: GPT2Config): Record<string, number[]> {
  const { vocabSize: V, nPositions: P, nEmbd: d, nLayer: L } = cfg;
  const shapes: Record<string, number[]> = { 'wte.weight': [V, d], 'wpe.weight': [P, d] };
  for (let i = 0; i < L; i++) {
    Object.assign(shapes, {
      [`h.${i}.ln_1.weight`]: [d],
      [`h.${i}.ln_1.bias`]: [d],
      [`h.${i}.attn.c_attn.weight`]: [d, 3 * d],
      [`h.${i}.attn.c_attn.bias`]: [3 * d],
      [`h.${i}.attn.c_proj.weight`]: [d, d],
      [`h.${i}.attn.c_proj.bias`]: [d],
      [`h.${i}.ln_2.weight`]: [d],
      [`h.${i}.ln_2.bias`]: [d],
      [`h.${i}.mlp.c_fc.weight`]: [d, 4 * d],
      [`h.${i}.mlp.c_fc.bias`]: [4 * d],
      [`h.${i}.mlp.c_proj.weight`]: [4 * d, d],
      [`h.${i}.mlp.c_proj.bias`]: [d],
    });
  }
  shapes['ln_f.weight'] = [d];
  shapes['ln_f.bias'] = [d];
  return shapes;
}

/** Block index of a canonical name, or undefined for wte/wpe/ln_f. */
export function blockOf(name: string): number | undefined {
  const m = /^h\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}

function checkCut(cfg: GPT2Config, cut: number): void {
  if (!Number.isInteger(cut) || cut < 0 || cut > cfg.nLayer) {
    throw new RangeError(`cut must be an integer in [0, ${cfg.nLayer}] for a ${cfg.nLayer}-block model, got ${cut}`);
  }
}

/**
 * Client side of the split: wte, wpe and blocks 0..cut-1; with `head` (the U-shaped split, where
 * the client computes the loss) also ln_f, for the head tied to its wte.
 */
export function clientTensorNames(cfg: GPT2Config, cut: number, opts: { head?: boolean } = {}): string[] {
  checkCut(cfg, cut);
  return Object.keys(gpt2ParamShapes(cfg)).filter((n) => {
    const b = blockOf(n);
    return b === undefined ? n === 'wte.weight' || n === 'wpe.weight' || (opts.head === true && n.startsWith('ln_f.')) : b < cut;
  });
}

/** Server side: wte (its LM head is tied to its own frozen copy), blocks cut..L-1 and ln_f. */
export function serverTensorNames(cfg: GPT2Config, cut: number): string[] {
  checkCut(cfg, cut);
  return Object.keys(gpt2ParamShapes(cfg)).filter((n) => {
    const b = blockOf(n);
    return b === undefined ? n !== 'wpe.weight' : b >= cut;
  });
}

// Buffers and the tied head that HF files may carry and we never load.
const IGNORED = /^(h\.\d+\.attn\.(bias|masked_bias)|lm_head\.weight)$/;

export interface Gpt2LoadPlan {
  config: GPT2Config;
  /** Tensors to decode: canonical name, key in the file, header entry. */
  entries: { name: string; key: string; info: TensorInfo }[];
}

/**
 * Checks a header against config.json without touching tensor data: every expected tensor present
 * (if included) with the exact shape, nothing unexpected. Shared by the bytes and file loaders.
 */
export function planGpt2Load(configJson: unknown, header: SafetensorsHeader, opts: LoadOptions = {}, what = 'model.safetensors'): Gpt2LoadPlan {
  const config = configFromHf(parseConfigJson(configJson));
  const expected = gpt2ParamShapes(config);
  const byName = new Map<string, { key: string; info: TensorInfo }>();
  const unexpected: string[] = [];
  for (const [key, info] of Object.entries(header.tensors)) {
    const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
    if (IGNORED.test(name)) continue;
    if (!(name in expected)) {
      unexpected.push(key);
      continue;
    }
    if (byName.has(name)) {
      throw new CheckpointError('UNEXPECTED_TENSOR', `${what}: "${name}" appears twice (as "${byName.get(name)!.key}" and "${key}")`);
    }
    const want = expected[name];
    if (!sameShape(info.shape, want)) {
      throw new CheckpointError('SHAPE_MISMATCH', `${what}: tensor "${name}" has shape ${fmtShape(info.shape)}, expected ${fmtShape(want)} for n_embd=${config.nEmbd}, n_positions=${config.nPositions}, vocab_size=${config.vocabSize}: config.json does not match the weights`);
    }
    byName.set(name, { key, info });
  }
  if (unexpected.length > 0) {
    throw new CheckpointError('UNEXPECTED_TENSOR', `${what}: unexpected tensors for a ${config.nLayer}-block GPT-2: ${listNames(unexpected)} (wrong model type, or n_layer in config.json too small?)`);
  }
  const wanted = Object.keys(expected).filter((n) => !opts.include || opts.include(n));
  const missing = wanted.filter((n) => !byName.has(n));
  if (missing.length > 0) {
    throw new CheckpointError('MISSING_TENSOR', `${what}: missing tensors: ${listNames(missing)} (incomplete checkpoint, or n_layer in config.json too large?)`);
  }
  return { config, entries: wanted.map((name) => ({ name, ...byName.get(name)! })) };
}

/** Loads a checkpoint held in memory (browser uploads, tests). */
export function loadGpt2FromFiles(configJson: unknown, safetensorsBytes: Uint8Array, opts: LoadOptions = {}): Gpt2Checkpoint {
  const header = parseHeader(safetensorsBytes, safetensorsBytes.length, 'model.safetensors');
  const plan = planGpt2Load(configJson, header, opts);
  const weights: TensorRecord = {};
  for (const { name, key, info } of plan.entries) {
    weights[name] = decodeTensor(key, info, tensorBytes(safetensorsBytes, header, info));
  }
  return { config: plan.config, weights };
}

/** Checks that `weights` is exactly the model's parameter set with the right shapes. */
export function checkGpt2Weights(config: GPT2Config, weights: TensorRecord): void {
  const expected = gpt2ParamShapes(config);
  const missing = Object.keys(expected).filter((n) => !(n in weights));
  if (missing.length > 0) throw new CheckpointError('MISSING_TENSOR', `weights lack: ${listNames(missing)}`);
  const extra = Object.keys(weights).filter((n) => !(n in expected));
  if (extra.length > 0) throw new CheckpointError('UNEXPECTED_TENSOR', `weights have names GPT-2 does not: ${listNames(extra)}`);
  for (const [name, want] of Object.entries(expected)) {
    const t = weights[name];
    if (!sameShape(t.shape, want) || t.data.length !== want.reduce((a, b) => a * b, 1)) {
      throw new CheckpointError('SHAPE_MISMATCH', `weights: "${name}" has shape ${fmtShape(t.shape)} (${t.data.length} values), expected ${fmtShape(want)}`);
    }
  }
}

const TORCH_DTYPE: Record<Dtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Writes what transformers' save_pretrained writes: "transformer."-prefixed keys, no lm_head (tied). */
export function saveGpt2Files(config: GPT2Config, weights: TensorRecord, dtype: Dtype = 'F32'): { configJson: Record<string, unknown>; safetensors: Uint8Array } {
  validateConfig(config);
  checkGpt2Weights(config, weights);
  const prefixed: TensorRecord = {};
  for (const name of Object.keys(gpt2ParamShapes(config))) prefixed[`transformer.${name}`] = weights[name];
  // transformers refuses safetensors files whose metadata lacks format "pt".
  const safetensors = writeSafetensors(prefixed, { dtype, metadata: { format: 'pt' } });
  return { configJson: { ...configToHf(config), torch_dtype: TORCH_DTYPE[dtype] }, safetensors };
}

function parseConfigJson(configJson: unknown): Record<string, unknown> {
  let json = configJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new CheckpointError('BAD_HEADER', `config.json is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError('BAD_HEADER', 'config.json must hold a JSON object');
  }
  return json as Record<string, unknown>;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
