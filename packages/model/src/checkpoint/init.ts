// GPT-2's initialisation, as transformers' GPT2PreTrainedModel._init_weights does it:
// Conv1D and Embedding weights ~ N(0, 0.02²); both c_proj weights ~ N(0, (0.02/√(2·n_layer))²)
// (GPT-2 paper's residual scaling); biases 0; LayerNorm weight 1, bias 0.
import { fillNormal, hashString, sfc32, type TensorRecord } from '@splitlora/tensor';
import type { GPT2Config } from '../config';
import { gpt2ParamShapes } from './hf-gpt2';

export const INITIALIZER_RANGE = 0.02;

/**
 * Deterministic: each tensor draws from its own stream keyed by (seed, name), so the same seed
 * gives bit-identical tensors whether you initialise the whole model or only `include`d names.
 */
export function initGpt2Weights(cfg: GPT2Config, seed: number, opts: { include?: (name: string) => boolean } = {}): TensorRecord {
  const out: TensorRecord = {};
  const residualStd = INITIALIZER_RANGE / Math.sqrt(2 * cfg.nLayer);
  for (const [name, shape] of Object.entries(gpt2ParamShapes(cfg))) {
    if (opts.include && !opts.include(name)) continue;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.ln_\d\.weight$|^ln_f\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith('.weight')) {
      const std = /\.c_proj\.weight$/.test(name) ? residualStd : INITIALIZER_RANGE;
      fillNormal(data, std, sfc32(hashString(`${seed}:${name}`)));
    } // biases stay 0
    out[name] = { shape, data };
  }
  return out;
}
