import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpt2ParamShapes, numel } from '@splitlora/model';
import { loadGpt2Dir } from '@splitlora/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './test-helpers';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('splitlora CLI', () => {
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

  it('init-model errors name what is missing or wrong, and refuse to overwrite', async () => {
    const x = join(tmp, 'x');
    const [missing, indivisible, unknown, badInt, again] = await Promise.all([
      runCli(['init-model', '--layers', '2', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--embd', '50', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--bogus', '1', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--layers', '1.5', '--out', x]),
      runCli(['init-model', '--preset', 'nano', '--layers', '1', '--out', join(tmp, 'nano16')]),
    ]);
    for (const r of [missing, indivisible, unknown, badInt, again]) expect(r.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--preset NAME or all of --layers, --embd and --heads \(missing --embd, --heads\)/);
    expect(indivisible.stderr).toMatch(/n_embd \(50\) must be divisible by n_head \(3\)/);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    expect(badInt.stderr).toMatch(/--layers.*expected an integer >= 1, got "1.5"/);
    expect(again.stderr).toMatch(/already exists; pass --force/);
  });
});
