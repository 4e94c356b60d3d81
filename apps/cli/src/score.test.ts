import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initLora, type LoraConfig } from '@splitlora/model';
import { loadGpt2Dir, saveAdapterDir } from '@splitlora/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test/kit/cli';
import { TINY_HF_FIXTURE as fixture, findE2EFile } from '../../../test/kit/paths';

const validFile = findE2EFile('lora-format/valid.txt');
const valid = validFile ?? '';
const scoreArgs = ['score', '--model', fixture, '--data', valid, '--format', 'e2e', '--limit', '8'];

describe.skipIf(!existsSync(fixture) || !validFile)('score on the PyTorch reference fixture', () => {
  // Read only when present: describe bodies run even when skipped.
  const expected = existsSync(fixture) ? JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')).score_e2e_valid_first8 : {};
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'splitlora-score-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('matches expected.json: 8 examples, 147 tokens, mean NLL within 1e-4', async () => {
    const r = await runCli(scoreArgs);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(r.json).sort()).toEqual(['examples', 'meanNll', 'perplexity', 'tokens']);
    expect(r.json.examples).toBe(expected.examples);
    expect(r.json.tokens).toBe(expected.tokens);
    expect(Math.abs(r.json.meanNll - expected.meanNll)).toBeLessThan(1e-4);
    expect(r.json.perplexity).toBeCloseTo(Math.exp(r.json.meanNll), 6);
  });

  it('--adapter: a zero-B adapter changes nothing, a non-zero one changes the NLL', async () => {
    const { config } = await loadGpt2Dir(fixture, { include: () => false });
    const cfg: LoraConfig = { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };
    const zero = initLora(config, cfg, 0, config.nLayer, 1); // A random, B = 0
    const random = initLora(config, cfg, 0, config.nLayer, 1);
    for (const [k, t] of Object.entries(random)) if (k.endsWith('lora_B')) t.data = t.data.map((_, j) => Math.sin(j + 1) * 0.05);
    await saveAdapterDir(join(tmp, 'zero'), zero, cfg);
    await saveAdapterDir(join(tmp, 'random'), random, cfg);
    const [z, n] = await Promise.all([runCli([...scoreArgs, '--adapter', join(tmp, 'zero')]), runCli([...scoreArgs, '--adapter', join(tmp, 'random'), '--batch', '3'])]);
    expect(z.code, z.stderr).toBe(0);
    expect(n.code, n.stderr).toBe(0);
    expect(z.json.tokens).toBe(expected.tokens);
    expect(Math.abs(z.json.meanNll - expected.meanNll)).toBeLessThan(1e-4);
    expect(n.json.tokens).toBe(expected.tokens);
    expect(Math.abs(n.json.meanNll - expected.meanNll)).toBeGreaterThan(1e-3);
  });

  it('errors: a missing data file and adapter are named, an unknown format lists the choices, a bad line names file:line', async () => {
    const missingPath = join(tmp, 'nope.txt');
    const badPath = join(tmp, 'bad.txt');
    await writeFile(badPath, 'name : The Eagle||The Eagle is a pub .\nno separator here\n');
    const [missing, format, adapter, bad, skipped] = await Promise.all([
      runCli(['score', '--model', fixture, '--data', missingPath, '--format', 'e2e']),
      runCli(['score', '--model', fixture, '--data', valid, '--format', 'xml']),
      runCli([...scoreArgs, '--adapter', join(tmp, 'no-adapter')]),
      runCli(['score', '--model', fixture, '--data', badPath, '--format', 'e2e']),
      runCli(['score', '--model', fixture, '--data', badPath, '--format', 'e2e', '--skip-bad']),
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`${badPath}:2: expected "MR||ref", found no "||"`);
    expect(bad.stderr).toContain('pass --skip-bad');
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.json.examples).toBe(1);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`data file not found: ${missingPath}`);
    expect(format.code).not.toBe(0);
    expect(format.stderr).toMatch(/argument 'xml' is invalid\. Allowed choices are e2e, csv, jsonl, text, auto/);
    expect(adapter.code).not.toBe(0);
    expect(adapter.stderr).toContain(`adapter directory not found: ${join(tmp, 'no-adapter')}`);
    for (const r of [missing, format, adapter]) expect(r.stdout).toBe('');
  });
});
