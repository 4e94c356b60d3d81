import { describe, expect, it } from 'vitest';
import { parseSafetensors, roundToF16, writeSafetensors, type HostTensor, type TensorRecord } from '@splitlora/tensor';
import { loraKey, type LoraConfig, type LoraTarget } from './lora-types';
import { adapterFromPeft, adapterToPeft } from './peft';
import { expectCheckpointError } from '../../../../test/kit/checkpoint';

const d = 8;
const N = 5;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function rand(shape: number[], r: () => number): HostTensor {
  return { shape, data: Float32Array.from({ length: shape[0] * shape[1] }, r) };
}

/** [n, k] @ [k, m] with plain loops (float64 accumulation). */
function matmul(a: Float32Array, n: number, k: number, b: Float32Array, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * m + j];
    out[i * m + j] = s;
  }
  return out;
}

function transposed(t: HostTensor): Float32Array {
  const [R, C] = t.shape;
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = t.data[r * C + c];
  return out;
}

/** Our math: c_attn's delta [N, 3d] = Σ over q/k/v/c_attn slices of x @ A @ B · alpha/r at its columns. */
// Written out here rather than imported, so a wrong offset in the code cannot hide in the test.
const OFFSET = { c_attn: 0, q: 0, k: d, v: 2 * d } as const;

function ourCAttnDelta(x: Float32Array, lora: TensorRecord, cfg: LoraConfig, block: number): Float64Array {
  const out = new Float64Array(N * 3 * d);
  for (const t of ['c_attn', 'q', 'k', 'v'] as const) {
    const A = lora[loraKey(block, t, 'A')];
    const B = lora[loraKey(block, t, 'B')];
    if (!A) continue;
    const r = A.shape[1];
    const width = B.shape[1];
    const xa = Float32Array.from(matmul(x, N, d, A.data, r)); // x @ A rounded to f32 like a real model
    const y = matmul(xa, N, r, B.data, width);
    for (let i = 0; i < N; i++) for (let j = 0; j < width; j++) out[i * 3 * d + OFFSET[t] + j] += y[i * width + j] * (cfg.alpha / cfg.r);
  }
  return out;
}

/** PEFT's math on the files: delta = x @ lora_Aᵀ @ lora_Bᵀ · lora_alpha / r' (alpha_pattern honoured). */
function peftDelta(x: Float32Array, configJson: Record<string, unknown>, tensors: TensorRecord, module: string): Float64Array {
  const A = tensors[`base_model.model.transformer.${module}.lora_A.weight`];
  const B = tensors[`base_model.model.transformer.${module}.lora_B.weight`];
  const [r, dIn] = A.shape;
  const dOut = B.shape[0];
  const pattern = (configJson.alpha_pattern ?? {}) as Record<string, number>;
  const key = Object.keys(pattern).find((p) => new RegExp(`^(.*\\.)?(${p})$`).test(`transformer.${module}`));
  const alpha = key !== undefined ? pattern[key] : (configJson.lora_alpha as number);
  const xa = Float32Array.from(matmul(x, N, dIn, transposed(A), r));
  return matmul(xa, N, r, transposed(B), dOut).map((v) => (v * alpha) / r);
}

function expectClose(a: Float64Array, b: Float64Array, tol = 1e-6): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThan(tol);
}

function makeLora(cfg: LoraConfig, blocks: number, seed: number): TensorRecord {
  const r = rng(seed);
  const dims: Record<LoraTarget, [number, number]> = { c_attn: [d, 3 * d], q: [d, d], k: [d, d], v: [d, d], 'attn.c_proj': [d, d], 'mlp.c_fc': [d, 4 * d], 'mlp.c_proj': [4 * d, d] };
  const out: TensorRecord = {};
  for (let b = 0; b < blocks; b++) for (const t of cfg.targets) {
    out[loraKey(b, t, 'A')] = rand([dims[t][0], cfg.r], r);
    out[loraKey(b, t, 'B')] = rand([cfg.r, dims[t][1]], r);
  }
  return out;
}

function expectSameRecord(a: TensorRecord, b: TensorRecord): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    expect(a[k].shape, k).toEqual(b[k].shape);
    expect(a[k].data, k).toEqual(b[k].data);
  }
}

const x = Float32Array.from({ length: N * d }, rng(99));

describe('q/v LoRA -> one fused PEFT c_attn adapter', () => {
  const cfg: LoraConfig = { r: 2, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };
  const lora = makeLora(cfg, 2, 1);
  const files = adapterToPeft(lora, cfg, { baseModel: 'gpt2-medium' });
  const raw = parseSafetensors(files.safetensors);

  it('writes a PEFT config that keeps the scaling', () => {
    expect(files.configJson).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'gpt2-medium',
      r: 4, lora_alpha: 64, lora_dropout: 0.1, target_modules: ['c_attn'],
      fan_in_fan_out: true, bias: 'none', inference_mode: true, modules_to_save: null,
      rank_pattern: {}, alpha_pattern: {},
    });
    expect(Object.keys(raw.tensors).sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    expect(raw.tensors['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'].shape).toEqual([4, d]);
    expect(raw.tensors['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'].shape).toEqual([3 * d, 4]);
  });

  it('leaves the k rows of lora_B zero', () => {
    const B = raw.tensors['base_model.model.transformer.h.1.attn.c_attn.lora_B.weight'].data;
    expect(B.subarray(d * 4, 2 * d * 4).every((v) => v === 0)).toBe(true);
    expect(B.subarray(0, d * 4).some((v) => v !== 0)).toBe(true);
  });

  it('PEFT math on the files gives our c_attn delta within 1e-6', () => {
    for (const b of [0, 1]) expectClose(peftDelta(x, files.configJson, raw.tensors, `h.${b}.attn.c_attn`), ourCAttnDelta(x, lora, cfg, b));
  });

  it('round-trips to separate q/v slices, bit-identical', () => {
    const back = adapterFromPeft(files.configJson, files.safetensors);
    expect(back.cfg).toEqual(cfg);
    expectSameRecord(back.lora, lora);
  });

  it('F16 export loads as the f16-rounded tensors', () => {
    const f16 = adapterToPeft(lora, cfg, { dtype: 'F16' });
    const back = adapterFromPeft(JSON.stringify(f16.configJson), f16.safetensors);
    for (const [k, v] of Object.entries(lora)) expect(back.lora[k].data, k).toEqual(roundToF16(v.data));
  });
});

describe('mixed targets: rank_pattern / alpha_pattern', () => {
  const cfg: LoraConfig = { r: 2, alpha: 16, dropout: 0, targets: ['q', 'k', 'v', 'attn.c_proj', 'mlp.c_fc'] };
  const lora = makeLora(cfg, 2, 5);
  const files = adapterToPeft(lora, cfg);
  const raw = parseSafetensors(files.safetensors);

  it('gives modules whose rank differs from r a pattern entry that keeps alpha/r', () => {
    // c_attn has r' = 6 (q, k, v); c_proj and c_fc have r' = 2 and are the majority.
    expect(files.configJson).toMatchObject({
      r: 2, lora_alpha: 16, target_modules: ['c_attn', 'attn.c_proj', 'mlp.c_fc'],
      rank_pattern: { 'attn.c_attn': 6 }, alpha_pattern: { 'attn.c_attn': 48 },
    });
  });

  it('PEFT math matches for every module', () => {
    for (const b of [0, 1]) {
      expectClose(peftDelta(x, files.configJson, raw.tensors, `h.${b}.attn.c_attn`), ourCAttnDelta(x, lora, cfg, b));
      const A = lora[loraKey(b, 'mlp.c_fc', 'A')], B = lora[loraKey(b, 'mlp.c_fc', 'B')];
      const ours = matmul(Float32Array.from(matmul(x, N, d, A.data, 2)), N, 2, B.data, 4 * d).map((v) => v * 8);
      expectClose(peftDelta(x, files.configJson, raw.tensors, `h.${b}.mlp.c_fc`), ours);
    }
  });

  it('round-trips bit-identically', () => {
    const back = adapterFromPeft(files.configJson, files.safetensors);
    expect(back.cfg).toEqual(cfg);
    expectSameRecord(back.lora, lora);
  });
});

describe('foreign PEFT adapters (no splitlora metadata)', () => {
  it('a fused c_attn adapter of any rank loads as target c_attn with A = lora_Aᵀ, B = lora_Bᵀ', () => {
    const r = rng(11);
    const tensors = {
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight': rand([3, d], r),
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight': rand([3 * d, 3], r),
    };
    const configJson = { peft_type: 'LORA', r: 3, lora_alpha: 7, lora_dropout: 0.05, target_modules: ['c_attn'], fan_in_fan_out: true };
    const bytes = writeSafetensors(tensors, { metadata: { format: 'pt' } });
    const { lora, cfg } = adapterFromPeft(configJson, bytes);
    expect(cfg).toEqual({ r: 3, alpha: 7, dropout: 0.05, targets: ['c_attn'] });
    expect(lora['h.0.c_attn.lora_A'].shape).toEqual([d, 3]);
    expect(lora['h.0.c_attn.lora_B'].shape).toEqual([3, 3 * d]);
    expectClose(ourCAttnDelta(x, lora, cfg, 0), peftDelta(x, configJson, tensors, 'h.0.attn.c_attn'));
    // And writing it back reproduces the original PEFT tensors exactly.
    const again = adapterToPeft(lora, cfg);
    expect(again.configJson).toMatchObject({ r: 3, lora_alpha: 7, target_modules: ['c_attn'] });
    expectSameRecord(parseSafetensors(again.safetensors).tensors, tensors);
  });

  it('older ".default" keys, c_proj/c_fc modules, and rank/alpha patterns (folded into B)', () => {
    const r = rng(12);
    const k = (m: string, w: string) => `base_model.model.transformer.${m}.lora_${w}.default.weight`;
    const tensors: TensorRecord = {
      [k('h.0.attn.c_attn', 'A')]: rand([4, d], r), [k('h.0.attn.c_attn', 'B')]: rand([3 * d, 4], r),
      [k('h.1.attn.c_attn', 'A')]: rand([2, d], r), [k('h.1.attn.c_attn', 'B')]: rand([3 * d, 2], r),
      [k('h.0.mlp.c_proj', 'A')]: rand([4, 4 * d], r), [k('h.0.mlp.c_proj', 'B')]: rand([d, 4], r),
      [k('h.1.attn.c_proj', 'A')]: rand([4, d], r), [k('h.1.attn.c_proj', 'B')]: rand([d, 4], r),
    };
    const configJson = {
      peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn', 'c_proj'],
      rank_pattern: { 'h.1.attn.c_attn': 2 }, alpha_pattern: { 'h.1.attn.c_attn': 10, 'mlp.c_proj': 2 },
    };
    const { lora, cfg } = adapterFromPeft(configJson, writeSafetensors(tensors));
    expect(cfg).toEqual({ r: 4, alpha: 8, dropout: 0, targets: ['c_attn', 'attn.c_proj', 'mlp.c_proj'] });
    const peftKeyed: TensorRecord = {};
    for (const [key, v] of Object.entries(tensors)) peftKeyed[key.replace('.default', '')] = v;
    expectClose(ourCAttnDelta(x, lora, cfg, 1), peftDelta(x, configJson, peftKeyed, 'h.1.attn.c_attn'), 1e-5);
    // mlp.c_proj: PEFT scaling 2/4 = 0.5 vs ours 8/4 = 2, so B is scaled by 1/4.
    const x4 = Float32Array.from({ length: N * 4 * d }, rng(3));
    const A = lora['h.0.mlp.c_proj.lora_A'], B = lora['h.0.mlp.c_proj.lora_B'];
    const ours = matmul(Float32Array.from(matmul(x4, N, 4 * d, A.data, 4)), N, 4, B.data, d).map((v) => v * 2);
    const A2 = peftKeyed['base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight'];
    const B2 = peftKeyed['base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight'];
    const theirs = matmul(Float32Array.from(matmul(x4, N, 4 * d, transposed(A2), 4)), N, 4, transposed(B2), d).map((v) => v * 0.5);
    expectClose(ours, theirs, 1e-5);
  });
});

describe('bad adapters fail with errors naming the problem', () => {
  const cfg: LoraConfig = { r: 2, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };
  const lora = makeLora(cfg, 1, 2);

  it('export: missing partner, foreign target, wrong shape, bad name', () => {
    const { 'h.0.v.lora_B': _drop, ...noB } = lora;
    expectCheckpointError(() => adapterToPeft(noB, cfg), 'MISSING_TENSOR', 'h.0.v.lora_B');
    expectCheckpointError(() => adapterToPeft(lora, { ...cfg, targets: ['q'] }), 'BAD_ADAPTER', 'h.0.v.lora_A', 'not in the LoRA config');
    expectCheckpointError(() => adapterToPeft({ ...lora, 'h.0.q.lora_A': { shape: [2, d], data: new Float32Array(2 * d) } }, cfg), 'SHAPE_MISMATCH', 'h.0.q.lora_A', 'target q');
    expectCheckpointError(() => adapterToPeft({ ...lora, 'h.0.o.lora_A': lora['h.0.q.lora_A'] }, cfg), 'BAD_ADAPTER', 'h.0.o.lora_A');
    expectCheckpointError(() => adapterToPeft(lora, { ...cfg, r: 0 }), 'BAD_ADAPTER', 'r must be a positive integer');
  });

  it('import: non-LoRA types, unknown tensors, transposed weights', () => {
    const good = adapterToPeft(lora, cfg);
    expectCheckpointError(() => adapterFromPeft({ ...good.configJson, peft_type: 'IA3' }, good.safetensors), 'BAD_ADAPTER', 'IA3');
    expectCheckpointError(() => adapterFromPeft({ ...good.configJson, use_dora: true }, good.safetensors), 'BAD_ADAPTER', 'DoRA');
    const raw = parseSafetensors(good.safetensors).tensors;
    const withHead = writeSafetensors({ ...raw, 'base_model.model.lm_head.weight': { shape: [1, 1], data: new Float32Array(1) } });
    expectCheckpointError(() => adapterFromPeft(good.configJson, withHead), 'BAD_ADAPTER', 'base_model.model.lm_head.weight');
    const flippedA = { shape: [d, 4], data: raw['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'].data };
    const flipped = writeSafetensors({ ...raw, 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight': flippedA });
    expectCheckpointError(() => adapterFromPeft(good.configJson, flipped), 'SHAPE_MISMATCH', 'h.0.attn.c_attn');
    expectCheckpointError(() => adapterFromPeft({ ...good.configJson, lora_alpha: 1 }, good.safetensors), 'BAD_ADAPTER', 'do not belong together');
  });
});
