// Where a command's model comes from: the offline default, a local directory, or a hub id.
import { readFile, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS, type GPT2Config } from '@splitlora/model';
import { loadGpt2Dir } from '@splitlora/model/node';
// TODO(lead): export resolveModelSource from '@splitlora/model/node' (src/node.ts lacks checkpoint/hub-node).
import { resolveModelSource } from '../../../packages/model/src/checkpoint/hub-node';
import { INIT_RECORD_FILE, writeRandomModelAtomic, type InitRecord } from './random-model';
import type { SimModel } from './sim/types';

/**
 * The offline default: a small GPT-2 (4 layers, d=64, 4 heads, 128 positions, GPT-2 vocabulary,
 * F16) pretrained on the seeded restaurant corpus (@splitlora/data corpus.ts) by
 * `npm run pretrain:default`, shipped in the repository so it needs neither network nor minutes
 * of training.
 */
export const DEFAULT_MODEL_ID = 'default-restaurants';
export const PRETRAINED_DEFAULT_DIR = fileURLToPath(new URL('../../../packages/model/assets/gpt2-restaurants-nano', import.meta.url));

/** The random model behind an explicit id: tests and benchmarks that want a tiny untrained base. */
export const RANDOM_NANO_ID = 'default-nano';

/**
 * The random "nano" GPT-2 (RANDOM_NANO_ID) (3 layers, 3 heads, d=48, 128 positions, GPT-2
 * vocabulary) with wte std 0.5 instead of 0.02, so that a LoRA adapter visibly lowers the loss.
 * Measured on wasm: LoRA r=4 on q,v, AdamW lr 1e-3, 50 steps of 8 syntheticE2E examples; drop of
 * the held-out NLL per wte std: 0.02 → 0.04, 0.1 → 0.08, 0.25 → 0.65, 0.5 → 1.50, 1.0 → 0.53.
 * (A large wte makes the random model confidently predict its input token, so its loss starts
 * above the uniform log V ≈ 10.8: 24.2 at 0.5.)
 */
export const RANDOM_NANO: { config: GPT2Config; init: Required<InitRecord> } = {
  config: PRESETS.nano,
  init: { preset: 'nano', seed: 0, wteStd: 0.5 },
};

/** $SPLITLORA_CACHE, else ~/.cache/splitlora. */
export function cacheRoot(): string {
  return process.env.SPLITLORA_CACHE ? resolve(process.env.SPLITLORA_CACHE) : join(homedir(), '.cache', 'splitlora');
}

export interface ResolveModelOptions {
  /** Cache root; default cacheRoot(). Hub models go to <cacheDir>/hub. */
  cacheDir?: string;
  log?: (message: string) => void;
}

/**
 * A local directory holding config.json + model.safetensors:
 *  - undefined or "default-restaurants" → the shipped pretrained default (PRETRAINED_DEFAULT_DIR);
 *  - "default-nano" → the random nano, generated into <cache>/default-nano on first use;
 *  - an existing directory → itself;
 *  - otherwise a hub id ("gpt2", "org/name"), downloaded into the cache.
 */
export async function resolveModel(source?: string, opts: ResolveModelOptions = {}): Promise<string> {
  const root = opts.cacheDir ?? cacheRoot();
  if (source !== undefined) {
    const st = await stat(source).catch(() => undefined);
    if (st?.isDirectory()) return resolve(source);
    if (source === RANDOM_NANO_ID) return ensureDefaultModel(root, opts.log);
    if (source !== DEFAULT_MODEL_ID) {
      return resolveModelSource(source, { cacheDir: opts.cacheDir ? join(opts.cacheDir, 'hub') : undefined });
    }
  }
  return pretrainedDefault();
}

/** The shipped pretrained default's directory, checked. */
export async function pretrainedDefault(): Promise<string> {
  for (const f of ['config.json', 'model.safetensors']) {
    if (!(await stat(join(PRETRAINED_DEFAULT_DIR, f)).catch(() => undefined))?.isFile()) {
      throw new Error(`the shipped default model is missing ${join(PRETRAINED_DEFAULT_DIR, f)}; rebuild it with "npm run pretrain:default", or pass --model DIR (or --model ${RANDOM_NANO_ID} for a random one)`);
    }
  }
  return PRETRAINED_DEFAULT_DIR;
}

/** Generates the random nano model (RANDOM_NANO_ID) unless an identical one is cached. */
export async function ensureDefaultModel(root: string, log: (message: string) => void = () => {}): Promise<string> {
  const dir = join(root, RANDOM_NANO_ID);
  if (await isCurrent(dir)) return dir;
  // Missing, half-deleted by hand, or made with other init settings: rebuild it.
  await rm(dir, { recursive: true, force: true });
  log(`generating the random "nano" GPT-2 (wte std ${RANDOM_NANO.init.wteStd}) in ${dir}`);
  try {
    await writeRandomModelAtomic(dir, RANDOM_NANO.config, RANDOM_NANO.init);
  } catch (e) {
    // Another process may have renamed its copy into place first; theirs is as good as ours.
    if (!(await isCurrent(dir))) throw e;
  }
  return dir;
}

async function isCurrent(dir: string): Promise<boolean> {
  try {
    const rec = JSON.parse(await readFile(join(dir, INIT_RECORD_FILE), 'utf8')) as InitRecord;
    const want = RANDOM_NANO.init;
    if (rec.preset !== want.preset || rec.seed !== want.seed || rec.wteStd !== want.wteStd) return false;
    for (const f of ['config.json', 'model.safetensors']) if (!(await stat(join(dir, f))).isFile()) return false;
    return true;
  } catch {
    return false;
  }
}

/** The model as a SimModel (the offline default without --model). */
export async function loadSimModel(source: string | undefined, log: (message: string) => void): Promise<SimModel> {
  const dir = await resolveModel(source, { log });
  const { config, weights } = await loadGpt2Dir(dir);
  const id = source === undefined ? DEFAULT_MODEL_ID : basename(dir).slice(0, 128) || 'model';
  log(`model: ${dir} (${config.nLayer} layers × d=${config.nEmbd}, vocab ${config.vocabSize})`);
  return { id, config, weights };
}
