import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '@splitlora/model';
import { loadGpt2Dir } from '@splitlora/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_ID, PRETRAINED_DEFAULT_DIR, RANDOM_NANO, RANDOM_NANO_ID, cacheRoot, resolveModel } from './model-source';
import { INIT_RECORD_FILE, randomGpt2Weights } from './random-model';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-src-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const std = (xs: Float32Array) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);

describe('resolveModel', () => {
  it('no source, or the default id: the shipped pretrained model, untouched', async () => {
    expect(await resolveModel(undefined, { cacheDir: tmp })).toBe(PRETRAINED_DEFAULT_DIR);
    expect(await resolveModel(DEFAULT_MODEL_ID, { cacheDir: tmp })).toBe(PRETRAINED_DEFAULT_DIR);
    const { config } = await loadGpt2Dir(PRETRAINED_DEFAULT_DIR, { include: () => false });
    expect(config.vocabSize).toBe(50257);
  });

  it('"default-nano": generates the random nano model once, then reuses it', async () => {
    const dir = await resolveModel(RANDOM_NANO_ID, { cacheDir: tmp });
    expect(dir).toBe(join(tmp, RANDOM_NANO_ID));
    const { config, weights } = await loadGpt2Dir(dir);
    expect(config).toEqual(PRESETS.nano);
    expect(std(weights['wte.weight'].data)).toBeCloseTo(RANDOM_NANO.init.wteStd, 2);
    expect(std(weights['h.0.mlp.c_fc.weight'].data)).toBeCloseTo(0.02, 3); // the rest is GPT-2's init
    const mtime = (await stat(join(dir, 'model.safetensors'))).mtimeMs;
    expect(await resolveModel(RANDOM_NANO_ID, { cacheDir: tmp })).toBe(dir);
    expect((await stat(join(dir, 'model.safetensors'))).mtimeMs).toBe(mtime);
  });

  it('regenerates a cached default made with other settings', async () => {
    const dir = join(tmp, RANDOM_NANO_ID);
    await writeFile(join(dir, INIT_RECORD_FILE), JSON.stringify({ preset: 'nano', seed: 0, wteStd: 0.02 }));
    await resolveModel(RANDOM_NANO_ID, { cacheDir: tmp });
    const { weights } = await loadGpt2Dir(dir, { include: (n) => n === 'wte.weight' });
    expect(std(weights['wte.weight'].data)).toBeCloseTo(RANDOM_NANO.init.wteStd, 2);
  });

  it('an existing directory is itself; a bad source says what it expected', async () => {
    expect(await resolveModel(tmp)).toBe(tmp);
    await expect(resolveModel('./no/such/dir', { cacheDir: tmp })).rejects.toThrow(/neither an existing directory nor a hub id/);
  });

  it('cache root follows $SPLITLORA_CACHE', () => {
    const before = process.env.SPLITLORA_CACHE;
    process.env.SPLITLORA_CACHE = tmp;
    try {
      expect(cacheRoot()).toBe(tmp);
    } finally {
      if (before === undefined) delete process.env.SPLITLORA_CACHE;
      else process.env.SPLITLORA_CACHE = before;
    }
  });
});

describe('randomGpt2Weights', () => {
  it('is deterministic in the seed and scales only wte', () => {
    const cfg = { vocabSize: 97, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2, layerNormEps: 1e-5 };
    const a = randomGpt2Weights(cfg, 4, 0.02);
    const b = randomGpt2Weights(cfg, 4, 0.5);
    expect(b['wte.weight'].data[5]).toBeCloseTo(a['wte.weight'].data[5] * 25, 5);
    expect(b['wpe.weight'].data).toEqual(a['wpe.weight'].data);
    expect(randomGpt2Weights(cfg, 4, 0.5)['wte.weight'].data).toEqual(b['wte.weight'].data);
    expect(randomGpt2Weights(cfg, 5, 0.5)['wte.weight'].data).not.toEqual(b['wte.weight'].data);
  });
});
