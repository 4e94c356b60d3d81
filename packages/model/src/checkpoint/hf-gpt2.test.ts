import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, roundToF16, writeSafetensors, type TensorRecord } from '@splitlora/tensor';
import { configFromHf } from '../config';
import {
  clientTensorNames, gpt2ParamShapes, loadGpt2FromFiles, saveGpt2Files, serverTensorNames,
} from './hf-gpt2';
import { initGpt2Weights } from './init';
import { CHECKPOINT_TINY as TINY, expectCheckpointError, expectSameBits } from '../../../../test/kit/checkpoint';
import { TINY_HF_FIXTURE, hasTinyHfFixture } from '../../../../test/kit/paths';

const configJson = () => saveGpt2Files(TINY, initGpt2Weights(TINY, 1)).configJson;

/** An HF-style file from canonical weights, with optional extra/missing/reshaped entries. */
function hfFile(weights: TensorRecord, prefix = 'transformer.'): Uint8Array {
  const rec: TensorRecord = {};
  for (const [k, v] of Object.entries(weights)) rec[k.startsWith('lm_head') ? k : prefix + k] = v;
  return writeSafetensors(rec);
}

describe('tensor names', () => {
  it('lists every GPT-2 parameter with its shape', () => {
    const shapes = gpt2ParamShapes(TINY);
    expect(Object.keys(shapes)).toHaveLength(2 + 12 * TINY.nLayer + 2);
    expect(shapes['wte.weight']).toEqual([50, 8]);
    expect(shapes['h.1.attn.c_attn.weight']).toEqual([8, 24]);
    expect(shapes['h.0.mlp.c_proj.weight']).toEqual([32, 8]);
  });

  it('splits client and server at the cut, both holding wte', () => {
    const client = clientTensorNames(TINY, 1);
    const server = serverTensorNames(TINY, 1);
    expect(client).toEqual(['wte.weight', 'wpe.weight', ...Object.keys(gpt2ParamShapes(TINY)).filter((n) => n.startsWith('h.0.'))]);
    expect(server[0]).toBe('wte.weight');
    expect(server).not.toContain('wpe.weight');
    expect(server.filter((n) => n.startsWith('h.'))).toEqual(Object.keys(gpt2ParamShapes(TINY)).filter((n) => n.startsWith('h.1.')));
    expect(server.slice(-2)).toEqual(['ln_f.weight', 'ln_f.bias']);
    expect(() => clientTensorNames(TINY, 3)).toThrow(/cut must be an integer in \[0, 2\]/);
  });
});

describe('save -> load', () => {
  const weights = initGpt2Weights(TINY, 7);

  it('F32 is bit-exact, keys carry the transformer. prefix, no lm_head', () => {
    const files = saveGpt2Files(TINY, weights, 'F32');
    const raw = parseSafetensors(files.safetensors);
    expect(raw.metadata.format).toBe('pt');
    expect(Object.keys(raw.tensors).every((k) => k.startsWith('transformer.'))).toBe(true);
    expect(configFromHf(files.configJson)).toEqual(TINY);
    const loaded = loadGpt2FromFiles(files.configJson, files.safetensors);
    expect(loaded.config).toEqual(TINY);
    expect(Object.keys(loaded.weights)).toEqual(Object.keys(weights));
    for (const [k, v] of Object.entries(weights)) {
      expect(loaded.weights[k].shape).toEqual(v.shape);
      expectSameBits(loaded.weights[k].data, v.data, k);
    }
  });

  it('F16 equals the f16-rounded originals exactly', () => {
    const files = saveGpt2Files(TINY, weights, 'F16');
    expect(files.configJson.torch_dtype).toBe('float16');
    const loaded = loadGpt2FromFiles(JSON.stringify(files.configJson), files.safetensors);
    for (const [k, v] of Object.entries(weights)) expectSameBits(loaded.weights[k].data, roundToF16(v.data), k);
    expect(loaded.weights['wte.weight'].data).not.toEqual(weights['wte.weight'].data);
  });

  it('BF16 loads too', () => {
    const files = saveGpt2Files(TINY, weights, 'BF16');
    const loaded = loadGpt2FromFiles(files.configJson, files.safetensors);
    expect(loaded.weights['h.0.attn.c_attn.weight'].data[0]).toBeCloseTo(weights['h.0.attn.c_attn.weight'].data[0], 2);
  });

  it('accepts keys without the prefix, and ignores attn.bias / masked_bias / lm_head', () => {
    const extra: TensorRecord = {
      ...weights,
      'h.0.attn.bias': { shape: [1, 1, 4, 4], data: new Float32Array(16) },
      'h.1.attn.masked_bias': { shape: [], data: new Float32Array([-1e4]) },
      'lm_head.weight': weights['wte.weight'],
    };
    const loaded = loadGpt2FromFiles(configJson(), hfFile(extra, ''));
    expect(Object.keys(loaded.weights).sort()).toEqual(Object.keys(weights).sort());
  });

  it('include loads only the client tensors and needs only those', () => {
    const names = clientTensorNames(TINY, 1);
    const { 'ln_f.weight': _drop, ...partial } = weights;
    const loaded = loadGpt2FromFiles(configJson(), hfFile(partial), { include: (n) => names.includes(n) });
    expect(Object.keys(loaded.weights)).toEqual(names);
    expect(loaded.weights['h.0.ln_1.weight'].data).toEqual(weights['h.0.ln_1.weight'].data);
  });
});

describe('bad checkpoints fail with errors naming the problem', () => {
  const weights = initGpt2Weights(TINY, 3);

  it('wrong shape names tensor, actual and expected shape', () => {
    const bad = { ...weights, 'h.1.mlp.c_fc.weight': { shape: [8, 16], data: new Float32Array(128) } };
    expectCheckpointError(() => loadGpt2FromFiles(configJson(), hfFile(bad)), 'SHAPE_MISMATCH', '"h.1.mlp.c_fc.weight"', '[8, 16]', 'expected [8, 32]');
  });

  it('missing tensor is named', () => {
    const { 'ln_f.bias': _drop, ...partial } = weights;
    expectCheckpointError(() => loadGpt2FromFiles(configJson(), hfFile(partial)), 'MISSING_TENSOR', 'ln_f.bias');
  });

  it('unexpected tensors are named (e.g. a deeper model than config.json says)', () => {
    const more = { ...weights, 'h.2.ln_1.weight': weights['h.0.ln_1.weight'] };
    expectCheckpointError(() => loadGpt2FromFiles(configJson(), hfFile(more)), 'UNEXPECTED_TENSOR', 'transformer.h.2.ln_1.weight');
  });

  it('a tensor present with and without prefix is a duplicate', () => {
    const bytes = writeSafetensors({ ...Object.fromEntries(Object.entries(weights).map(([k, v]) => [`transformer.${k}`, v])), 'wpe.weight': weights['wpe.weight'] });
    expectCheckpointError(() => loadGpt2FromFiles(configJson(), bytes), 'UNEXPECTED_TENSOR', 'appears twice');
  });

  it('bad config.json text', () => {
    expectCheckpointError(() => loadGpt2FromFiles('{oops', hfFile(weights)), 'BAD_HEADER', 'config.json is not valid JSON');
  });

  it('refuses to save incomplete or misshapen weights', () => {
    const { 'wpe.weight': _drop, ...partial } = weights;
    expectCheckpointError(() => saveGpt2Files(TINY, partial), 'MISSING_TENSOR', 'wpe.weight');
    expectCheckpointError(() => saveGpt2Files(TINY, { ...weights, extra: weights['wpe.weight'] }), 'UNEXPECTED_TENSOR', 'extra');
    expectCheckpointError(() => saveGpt2Files(TINY, { ...weights, 'ln_f.bias': { shape: [9], data: new Float32Array(9) } }), 'SHAPE_MISMATCH', 'ln_f.bias');
  });
});

describe.skipIf(!hasTinyHfFixture)('fixture gpt2-tiny-hf (F16, transformer. prefix, attn.bias buffers)', () => {
  // Read only when present: describe bodies run even when skipped.
  const config = hasTinyHfFixture ? JSON.parse(readFileSync(resolve(TINY_HF_FIXTURE, 'config.json'), 'utf8')) : {};
  const bytes = hasTinyHfFixture ? readFileSync(resolve(TINY_HF_FIXTURE, 'model.safetensors')) : new Uint8Array();

  it('loads with the right config, names and shapes', () => {
    const { config: cfg, weights } = loadGpt2FromFiles(config, bytes);
    expect(cfg).toEqual({ vocabSize: 50257, nPositions: 1024, nEmbd: 64, nLayer: 2, nHead: 4, layerNormEps: 1e-5 });
    const shapes = gpt2ParamShapes(cfg);
    expect(Object.keys(weights)).toEqual(Object.keys(shapes));
    for (const [k, s] of Object.entries(shapes)) expect(weights[k].shape, k).toEqual(s);
  });

  it('decodes the same values as numpy (float16 -> float32)', () => {
    const { weights } = loadGpt2FromFiles(config, bytes);
    const check = (name: string, first3: number[], last: number, sum: number) => {
      const d = weights[name].data;
      expect([...d.subarray(0, 3)]).toEqual(first3);
      expect(d[d.length - 1]).toBe(last);
      expect(d.reduce((a, b) => a + b, 0)).toBeCloseTo(sum, 6);
    };
    // Reference values from numpy's frombuffer(..., float16).astype(float32) on the same file.
    check('wte.weight', [-0.1961669921875, -0.0014905929565429688, 0.2467041015625], -0.1241455078125, -142.19927674531937);
    check('h.1.mlp.c_proj.weight', [-0.004669189453125, -0.11114501953125, 0.05877685546875], -0.274169921875, -8.69619631767273);
    check('ln_f.bias', [0.13134765625, 0.17529296875, 0.06634521484375], 0.15087890625, 0.19200897216796875);
  });

  it('include: a server at cut 1 gets wte, h.1 and ln_f only', () => {
    const { weights } = loadGpt2FromFiles(config, bytes, { include: (n) => serverTensorNames(configFromHf(config), 1).includes(n) });
    expect(Object.keys(weights)).toEqual(serverTensorNames(configFromHf(config), 1));
  });
});
