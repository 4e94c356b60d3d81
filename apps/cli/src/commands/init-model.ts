// init-model: write a randomly initialised GPT-2 checkpoint (Hugging Face layout).
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { INITIALIZER_RANGE, PRESETS, isPresetName, validateConfig, type Dtype, type GPT2Config } from '@splitlora/model';
import { intAtLeast, positiveNumber } from '../options';
import { CliError, log, printResult } from '../output';
import { writeRandomModel } from '@splitlora/lab';

interface InitModelOptions {
  preset?: string;
  layers?: number;
  embd?: number;
  heads?: number;
  vocab?: number;
  positions?: number;
  seed: number;
  out: string;
  dtype: Dtype;
  wteStd: number;
  force?: boolean;
}

/** Preset fields, overridden by explicit flags; without a preset, layers/embd/heads are required. */
export function configFromOptions(o: Pick<InitModelOptions, 'preset' | 'layers' | 'embd' | 'heads' | 'vocab' | 'positions'>): GPT2Config {
  let base: Partial<GPT2Config> = { vocabSize: 50257, nPositions: 1024, layerNormEps: 1e-5 };
  if (o.preset !== undefined) {
    if (!isPresetName(o.preset)) throw new CliError(`unknown preset "${o.preset}"; choose one of ${Object.keys(PRESETS).join(', ')}`);
    base = PRESETS[o.preset];
  } else {
    const missing = (['layers', 'embd', 'heads'] as const).filter((k) => o[k] === undefined).map((k) => `--${k}`);
    if (missing.length > 0) throw new CliError(`init-model needs --preset NAME or all of --layers, --embd and --heads (missing ${missing.join(', ')})`);
  }
  const cfg: GPT2Config = {
    vocabSize: o.vocab ?? base.vocabSize!,
    nPositions: o.positions ?? base.nPositions!,
    nEmbd: o.embd ?? base.nEmbd!,
    nLayer: o.layers ?? base.nLayer!,
    nHead: o.heads ?? base.nHead!,
    layerNormEps: base.layerNormEps!,
  };
  try {
    validateConfig(cfg);
  } catch (e) {
    throw new CliError((e as Error).message.replace(/^config: /, 'init-model: '));
  }
  return cfg;
}

export function initModelCommand(): Command {
  return new Command('init-model')
    .description('write a randomly initialised GPT-2 checkpoint (config.json + model.safetensors, Hugging Face format)')
    .addOption(new Option('--preset <name>', 'start from a preset architecture; explicit flags override its fields').choices(Object.keys(PRESETS)))
    .option('--layers <n>', 'number of transformer blocks (n_layer)', intAtLeast(1))
    .option('--embd <n>', 'model width (n_embd); divisible by --heads', intAtLeast(1))
    .option('--heads <n>', 'attention heads (n_head)', intAtLeast(1))
    .option('--vocab <n>', 'vocabulary size (default 50257, GPT-2 BPE)', intAtLeast(1))
    .option('--positions <n>', 'context length (n_positions, default 1024)', intAtLeast(1))
    .option('--seed <n>', 'random seed; the same seed gives bit-identical weights', intAtLeast(0), 0)
    .requiredOption('--out <dir>', 'output directory (created if missing)')
    .addOption(new Option('--dtype <dtype>', 'storage dtype of the weights').choices(['F32', 'F16', 'BF16']).default('F32'))
    .option(
      '--wte-std <x>',
      `std of the token-embedding init (GPT-2 uses ${INITIALIZER_RANGE}). With ${INITIALIZER_RANGE} the tied head's logits on a ` +
        'random base stay within about ±1, so LoRA can barely lower the loss; the offline default model uses 0.5',
      positiveNumber,
      INITIALIZER_RANGE,
    )
    .option('--force', 'overwrite a checkpoint already in --out')
    .action(async (o: InitModelOptions) => {
      const cfg = configFromOptions(o);
      const out = resolve(o.out);
      if (!o.force && (await stat(join(out, 'model.safetensors')).catch(() => undefined))) {
        throw new CliError(`${join(out, 'model.safetensors')} already exists; pass --force to overwrite it or choose another --out`);
      }
      log(`init-model: ${cfg.nLayer} layers × d=${cfg.nEmbd}, ${cfg.nHead} heads, vocab ${cfg.vocabSize}, ${cfg.nPositions} positions → ${out}`);
      const params = await writeRandomModel(out, cfg, { ...(o.preset !== undefined && { preset: o.preset }), seed: o.seed, wteStd: o.wteStd }, o.dtype);
      printResult({ out, params, config: cfg });
    });
}
