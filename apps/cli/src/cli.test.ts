import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPERIMENTS } from '@splitlora/lab';
import { PRESETS, gpt2ParamShapes, numel } from '@splitlora/model';
import { loadGpt2Dir } from '@splitlora/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromOptions } from './commands/init-model';
import { intAtLeast } from './options';
import { createProgram, isBackendMemoryError } from './program';
import { runCli } from '../../../test/kit/cli';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('splitlora CLI', () => {
  it('runs every lab experiment as the command of its name, described as the lab describes it', () => {
    const commands = new Map(createProgram().commands.map((c) => [c.name(), c.description()]));
    for (const e of EXPERIMENTS) expect(commands.get(e.name), e.name).toBe(e.description);
  });

  it('--help lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['init-model', 'score', 'generate', 'bench-model']) expect(r.stdout).toContain(c);
  });

  it('init-model writes a checkpoint that loadGpt2Dir reads back', async () => {
    const out = join(tmp, 'tiny');
    const r = await runCli(['init-model', '--layers', '2', '--embd', '32', '--heads', '2', '--vocab', '50257', '--positions', '64', '--seed', '3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'splitlora-init.json']);
    const want = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
    expect(r.json.config).toEqual(want);
    const { config, weights } = await loadGpt2Dir(out);
    expect(config).toEqual(want);
    const shapes = gpt2ParamShapes(config);
    expect(Object.keys(weights).sort()).toEqual(Object.keys(shapes).sort());
    expect(r.json.params).toBe(Object.values(shapes).reduce((n, s) => n + numel(s), 0));
    expect(weights['h.1.ln_1.weight'].data.every((x) => x === 1)).toBe(true);
  });

  it('init-model: a preset with an overriding flag, and --dtype F16', async () => {
    const out = join(tmp, 'nano16');
    const r = await runCli(['init-model', '--preset', 'nano', '--layers', '1', '--dtype', 'F16', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.config).toMatchObject({ nLayer: 1, nEmbd: 48, nHead: 3, nPositions: 128, vocabSize: 50257 });
    expect((await loadGpt2Dir(out)).config.nLayer).toBe(1);
  });

  it('init-model errors print one clear line and exit non-zero', async () => {
    const x = join(tmp, 'x');
    const [missing, unknown, again] = await Promise.all([
      runCli(['init-model', '--layers', '2', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--bogus', '1', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--layers', '1', '--out', join(tmp, 'nano16')]), // written above
    ]);
    for (const r of [missing, unknown, again]) {
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
    }
    expect(missing.stderr).toMatch(/^splitlora: error: init-model needs --preset NAME or all of --layers, --embd and --heads \(missing --embd, --heads\)$/m);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    expect(again.stderr).toMatch(/already exists; pass --force/);
  });

  it('tells a backend out of memory (a wasm trap or abort) from a bug', () => {
    expect(isBackendMemoryError(new WebAssembly.RuntimeError('memory access out of bounds'))).toBe(true);
    expect(isBackendMemoryError(new Error('Aborted(). Build with -sASSERTIONS for more info.'))).toBe(true);
    expect(isBackendMemoryError(new Error('--steps must be a whole number'))).toBe(false);
    expect(isBackendMemoryError(new TypeError("Cannot read properties of undefined (reading 'shape')"))).toBe(false);
  });

  it('configFromOptions: preset fields, overrides, and validation', () => {
    expect(configFromOptions({ preset: 'gpt2-medium', positions: 256 })).toEqual({ ...PRESETS['gpt2-medium'], nPositions: 256 });
    expect(configFromOptions({ layers: 1, embd: 8, heads: 2 })).toEqual({ vocabSize: 50257, nPositions: 1024, nEmbd: 8, nLayer: 1, nHead: 2, layerNormEps: 1e-5 });
    expect(() => configFromOptions({ preset: 'nano', embd: 50 })).toThrow('init-model: n_embd (50) must be divisible by n_head (3)');
    expect(() => intAtLeast(1)('1.5')).toThrow('expected an integer >= 1, got "1.5"');
    expect(() => intAtLeast(0)('-1')).toThrow('expected an integer >= 0, got "-1"');
    expect(intAtLeast(0)('0')).toBe(0);
  });
});
