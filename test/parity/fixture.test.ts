// Parity with an independent PyTorch GPT2LMHeadModel on ../shared/fixtures/gpt2-tiny-hf
// (F16 weights, "transformer." prefix, causal-mask buffers that the loader must ignore).
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { FullModel, SPLITLORA_ADAMW, toWeights } from '@splitlora/model';
import { loadGpt2Dir } from '@splitlora/model/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { SHARED_DIR, TINY_HF_FIXTURE as fixtureDir } from '../kit/paths';

const idsFile = `${SHARED_DIR}/data/e2e/splitlora-jsonl/valid.jsonl`;

describe.skipIf(!existsSync(fixtureDir))('GPT-2 parity with the PyTorch reference fixture', () => {
  // Read only when present: describe bodies run even when skipped.
  const expected = existsSync(fixtureDir) ? JSON.parse(readFileSync(`${fixtureDir}/expected.json`, 'utf8')) : {};
  let model: FullModel;

  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    const { config, weights } = await loadGpt2Dir(fixtureDir);
    // A zero-B adapter is a no-op, so this is the plain base model.
    model = new FullModel(config, toWeights(weights), { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
  });

  it('matches logits, logsumexp and argmax of the first example', async () => {
    const ex = expected.first_valid_example;
    const ids = Int32Array.from(ex.token_ids as number[]);
    const logits = model.logits(ids, 1, ids.length);
    const V = logits.shape[1];
    const data = await logits.data();
    const lse = await tf.tidy(() => tf.logSumExp(logits, -1)).data();
    const argmax = await tf.tidy(() => tf.argMax(logits, -1)).data();
    ex.positions.forEach((pos: number, j: number) => {
      for (let v = 0; v < 8; v++) expect(Math.abs(data[pos * V + v] - ex.logits_first8[j][v])).toBeLessThan(1e-3);
      expect(Math.abs(lse[pos] - ex.logsumexp[j])).toBeLessThan(1e-3);
      expect(argmax[pos]).toBe(ex.argmax[j]);
    });
    logits.dispose();
  });

  it('matches the completion-only mean NLL on the first 8 E2E lines', async () => {
    const lines = readFileSync(idsFile, 'utf8').split('\n').slice(0, 8).map((l) => JSON.parse(l) as { context: number[]; completion: number[] });
    let nll = 0;
    let count = 0;
    for (const { context, completion } of lines) {
      const seq = [...context, ...completion];
      const ids = Int32Array.from(seq.slice(0, -1));
      const targets = Int32Array.from(seq.slice(1));
      const mask = Float32Array.from(targets, (_, t) => (t + 1 >= context.length ? 1 : 0));
      const r = await model.nll({ ids, targets, mask, batch: 1, seqLen: ids.length });
      nll += r.nll;
      count += r.count;
    }
    expect(count).toBe(expected.score_e2e_valid_first8.tokens);
    expect(Math.abs(nll / count - expected.score_e2e_valid_first8.meanNll)).toBeLessThan(1e-4);
  });
});
