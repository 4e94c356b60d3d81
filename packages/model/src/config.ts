// GPT-2 architecture configs. Architecture only: training settings live elsewhere.

export interface GPT2Config {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  layerNormEps: number;
}

const base = { vocabSize: 50257, nPositions: 1024, layerNormEps: 1e-5 };

export const PRESETS = {
  gpt2: { ...base, nEmbd: 768, nLayer: 12, nHead: 12 },
  'gpt2-medium': { ...base, nEmbd: 1024, nLayer: 24, nHead: 16 },
  'gpt2-large': { ...base, nEmbd: 1280, nLayer: 36, nHead: 20 },
  'gpt2-xl': { ...base, nEmbd: 1600, nLayer: 48, nHead: 25 },
  // Small configs for tests, browsers and the offline default.
  nano: { ...base, nPositions: 128, nEmbd: 48, nLayer: 3, nHead: 3 },
  micro: { ...base, nPositions: 256, nEmbd: 128, nLayer: 4, nHead: 4 },
  mini: { ...base, nPositions: 512, nEmbd: 256, nLayer: 8, nHead: 8 },
} satisfies Record<string, GPT2Config>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/** Default cut: a quarter of the blocks (3 for gpt2, 6 for gpt2-medium), at least 1. */
export function defaultCut(cfg: GPT2Config): number {
  return Math.max(1, Math.floor(cfg.nLayer / 4));
}

export function headDim(cfg: GPT2Config): number {
  return cfg.nEmbd / cfg.nHead;
}

export function validateConfig(cfg: GPT2Config): void {
  for (const k of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`config: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.nEmbd % cfg.nHead !== 0) throw new Error(`config: n_embd (${cfg.nEmbd}) must be divisible by n_head (${cfg.nHead})`);
  if (!(cfg.layerNormEps > 0)) throw new Error(`config: layer_norm_epsilon must be > 0, got ${cfg.layerNormEps}`);
}

/** Reads a Hugging Face GPT-2 config.json object. */
export function configFromHf(json: Record<string, unknown>): GPT2Config {
  const num = (k: string, fallback?: number): number => {
    const v = json[k] ?? fallback;
    if (typeof v !== 'number') throw new Error(`config.json: missing or non-numeric "${k}"`);
    return v;
  };
  const cfg: GPT2Config = {
    vocabSize: num('vocab_size'),
    nPositions: num('n_positions', json['n_ctx'] as number | undefined),
    nEmbd: num('n_embd'),
    nLayer: num('n_layer'),
    nHead: num('n_head'),
    layerNormEps: num('layer_norm_epsilon', 1e-5),
  };
  validateConfig(cfg);
  return cfg;
}

/** Writes a config.json object that transformers' GPT2LMHeadModel accepts. */
export function configToHf(cfg: GPT2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: cfg.vocabSize,
    n_positions: cfg.nPositions,
    n_ctx: cfg.nPositions,
    n_embd: cfg.nEmbd,
    n_layer: cfg.nLayer,
    n_head: cfg.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: cfg.layerNormEps,
    initializer_range: 0.02,
    resid_pdrop: 0.0,
    embd_pdrop: 0.0,
    attn_pdrop: 0.0,
    bos_token_id: 50256,
    eos_token_id: 50256,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
}
