import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { generateE2E } from '@splitlora/evaluation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '@splitlora/lab';
import { runCli, type CliRun } from '../../../test/kit/cli';
import { TINY_HF_FIXTURE as fixture, findE2EFile } from '../../../test/kit/paths';

const testFile = findE2EFile('lora-format/test.txt');
const test = testFile ?? '';
const e2eDir = testFile ? dirname(testFile) : '';
const METRICS = ['BLEU', 'NIST', 'METEOR', 'ROUGE_L', 'CIDEr'];

function runEval(args: string[]): Promise<CliRun> {
  return runCli(['eval', ...args]);
}

describe.skipIf(!existsSync(fixture) || !testFile)('splitlora eval on the tiny fixture and the E2E test set', () => {
  let tmp: string;
  let errorRuns: Promise<CliRun[]>;
  let outFile: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'splitlora-eval-'));
    // Started now so that these subprocesses overlap the main run.
    outFile = join(tmp, 'a-file');
    await writeFile(outFile, 'x');
    errorRuns = Promise.all([
      runEval(['--model', fixture, '--data', test, '--format', 'text', '--out', join(tmp, 'o2'), '--limit', '1']),
      runEval(['--model', fixture, '--data', test, '--out', outFile, '--limit', '1']),
    ]);
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes the scorer files for the first 3 MRs, prints the metrics, and `splitlora metrics` agrees', async () => {
    const out = join(tmp, 'out');
    const r = await runEval(['--model', fixture, '--data', test, '--out', out, '--limit', '3', '--beam', '2', '--max-new-tokens', '8', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(r.json).sort()).toEqual([...METRICS, 'examples', 'mrs', 'out'].sort());
    expect(r.json.mrs).toBe(3);
    expect(r.json.out).toBe(out);
    expect(r.stderr).toContain('eval: 3/3 MRs');

    // The first 3 groups of SplitLoRA's e2e_ref.txt and the first 3 unique MRs.
    const groups = readFileSync(resolve(e2eDir, 'test_refs_grouped.txt'), 'utf8').split('\n\n').slice(0, 3);
    const refsText = groups.map((g) => g + '\n\n').join('');
    expect(await readFile(join(out, 'references.txt'), 'utf8')).toBe(refsText);
    expect(r.json.examples).toBe(groups.reduce((n, g) => n + g.split('\n').length, 0));
    const mrs = readFileSync(resolve(e2eDir, 'test_mrs_unique.txt'), 'utf8').split('\n').slice(0, 3);
    expect(await readFile(join(out, 'mrs.txt'), 'utf8')).toBe(mrs.map((m) => m + '\n').join(''));

    // Predictions: one line per MR, exactly what generateE2E gives in-process with the same settings.
    const predictions = (await readFile(join(out, 'predictions.txt'), 'utf8')).split('\n');
    expect(predictions).toHaveLength(4); // 3 lines and the final newline
    expect(predictions[3]).toBe('');
    await selectNodeBackend('wasm', () => {});
    const loaded = await loadModel(fixture);
    try {
      expect(predictions.slice(0, 3)).toEqual(await generateE2E(loaded.model, mrs, { beams: 2, maxNewTokens: 8 }));
    } finally {
      loaded.dispose();
    }

    for (const k of METRICS) expect(Number.isFinite(r.json[k]), k).toBe(true);
    const m = await runCli(['metrics', '--refs', join(out, 'references.txt'), '--hyps', join(out, 'predictions.txt')]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.json).toEqual(Object.fromEntries(METRICS.map((k) => [k, r.json[k]])));
  });

  it('refuses plain-text data and an --out that is a file, naming what to do', async () => {
    const [text, file] = await errorRuns;
    expect(text.code).not.toBe(0);
    expect(text.stderr).toContain('eval needs "MR||ref" lines');
    expect(file.code).not.toBe(0);
    expect(file.stderr).toContain(`--out ${outFile} is a file; pass a directory`);
    for (const r of [text, file]) expect(r.stdout).toBe('');
  });
});

