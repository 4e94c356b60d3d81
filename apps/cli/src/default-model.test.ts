// The shipped offline default (packages/model/assets/gpt2-restaurants-nano), as committed: no
// retraining here. It must know its pretraining distribution, and the demo run must visibly
// fine-tune it on the (deliberately different) default fine-tuning data.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { DEFAULT_CORPUS, VOCAB_SIZE, restaurantCorpus } from '@splitlora/data';
import { loadGpt2Dir } from '@splitlora/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRETRAINED_DEFAULT_DIR, demoRun } from '@splitlora/lab';
import { runCli } from '../../../test/kit/cli';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-default-'));
  await selectNodeBackend('wasm', () => {});
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('the shipped default model', () => {
  it('is a small F16 GPT-2 with the full vocabulary, made by pretrain', async () => {
    const config = JSON.parse(await readFile(join(PRETRAINED_DEFAULT_DIR, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ vocab_size: VOCAB_SIZE, torch_dtype: 'float16', tie_word_embeddings: true });
    const record = JSON.parse(await readFile(join(PRETRAINED_DEFAULT_DIR, 'pretrain.json'), 'utf8'));
    expect(record.dtype).toBe('F16');
  });

  it('scores below the 2.5-nat target on its own held-out corpus (score, as a user runs it)', async () => {
    const file = join(tmp, 'heldout.txt');
    await writeFile(file, restaurantCorpus(DEFAULT_CORPUS.heldout).slice(0, 100).join('\n') + '\n');
    const r = await runCli(['score', '--data', file, '--format', 'text', '--backend', 'wasm']); // no --model: the default
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('gpt2-restaurants-nano');
    expect(r.json.meanNll).toBeLessThan(2.5);
  }, 120_000);

  it('a short run of the demo settings lowers the held-out loss on the fine-tuning data', async () => {
    const { config, weights } = await loadGpt2Dir(PRETRAINED_DEFAULT_DIR);
    const r = await demoRun(config, weights, { steps: 30, heldout: 32 });
    const [before, after] = [r.curve[0].heldoutNll, r.curve[r.curve.length - 1].heldoutNll];
    expect(after).toBeLessThan(before * 0.85); // measured on 100 held-out examples: 3.10 → 2.28 after 30 steps, 1.97 after 50
  }, 120_000);
});
