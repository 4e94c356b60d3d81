import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { computeE2EMetrics } from '@splitlora/metrics';
import { E2E_BEAM, greedyDecode, type FullModel } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { evaluateE2E } from './evaluate';
import { e2ePrompt, generateE2E } from './generate';
import { postprocessE2E } from './postprocess';
import { tinyFullModel } from '../../../test/kit/tiny';

const MRS = ['name : The Eagle | Type : pub', 'name : Zizzi | area : riverside', 'name : Aromi | food : Chinese'];

let model: FullModel;
beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
  model = tinyFullModel(3);
  tf.dispose(model.logits(Int32Array.from([1]), 1, 1)); // creates the head's cached wteᵀ before counting tensors
});
afterAll(() => model.dispose());

describe('generateE2E', () => {
  it('prompts with BPE(MR) + <|endoftext|>, as in training', () => {
    const p = e2ePrompt('name : Aromi');
    expect(p[p.length - 1]).toBe(50256);
    expect(p.slice(0, -1)).toEqual([3672, 1058, 317, 398, 72]);
  });

  it('decodes with E2E_BEAM by default (10 beams), leaking no tensors', async () => {
    const spy = vi.spyOn(model, 'logits');
    try {
      const before = tf.memory().numTensors;
      const out = await generateE2E(model, MRS.slice(0, 1), { maxNewTokens: 3 }); // 3 steps keep it fast
      expect(tf.memory().numTensors).toBe(before);
      expect(out).toHaveLength(1);
      expect(out[0]).not.toMatch(/\n|<\|endoftext\|>/);
      // The prompt in one row, then one row per live beam (10 until hypotheses finish).
      const rows = spy.mock.calls.map((c) => c[1]);
      expect(rows[0]).toBe(1);
      expect(rows[1]).toBe(E2E_BEAM.beams);
      expect(rows.length).toBeLessThanOrEqual(3);
    } finally {
      spy.mockRestore();
    }
  });

  it('respects maxNewTokens: one forward pass per new token when no stop token ends it', async () => {
    const spy = vi.spyOn(model, 'logits');
    try {
      const progress: number[][] = [];
      const beam = await generateE2E(model, MRS, { beams: 2, maxNewTokens: 5, stopTokens: [], batchSize: 1, onProgress: (d, t) => progress.push([d, t]) });
      expect(beam).toHaveLength(3);
      expect(progress).toEqual([[1, 3], [2, 3], [3, 3]]);
      expect(spy).toHaveBeenCalledTimes(3 * 5);
      spy.mockClear();
      // Batched (the default): one forward per new token per distinct prompt length, same outputs.
      const mrs = [...MRS, MRS[0]];
      expect(new Set(mrs.map((mr) => e2ePrompt(mr).length)).size).toBe(3);
      expect(await generateE2E(model, mrs, { beams: 2, maxNewTokens: 5, stopTokens: [] })).toEqual([...beam, beam[0]]);
      expect(spy).toHaveBeenCalledTimes(3 * 5);
      spy.mockClear();
      const greedy = await generateE2E(model, MRS, { beams: 1, noRepeatNgram: 0, maxNewTokens: 4, stopTokens: [], batchSize: 1 });
      expect(spy).toHaveBeenCalledTimes(3 * 4);
      spy.mockRestore();
      for (const [i, mr] of MRS.entries()) {
        const tokens = await greedyDecode(model, e2ePrompt(mr), { maxNewTokens: 4, stopTokens: [] });
        expect(tokens).toHaveLength(4);
        expect(greedy[i]).toBe(postprocessE2E(tokens));
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('rejects bad options and an MR too long for the context', async () => {
    await expect(generateE2E(model, MRS, { beams: 0 })).rejects.toThrow('beams must be an integer >= 1');
    await expect(generateE2E(model, MRS, { maxNewTokens: 0 })).rejects.toThrow('maxNewTokens must be an integer >= 1');
    await expect(generateE2E(model, MRS, { batchSize: 1.5 })).rejects.toThrow('batchSize must be an integer >= 1, got 1.5');
    await expect(generateE2E(model, ['name : X'.repeat(40)])).rejects.toThrow(/MR 0 is \d+ tokens, which leaves no room in the model's 96-token context/);
  });
});

describe('evaluateE2E', () => {
  it('decodes the first `limit` unique MRs and scores them against their grouped references', async () => {
    const test = [
      { context: MRS[0], completion: 'The Eagle is a pub .' },
      { context: MRS[0], completion: 'There is a pub called The Eagle .' },
      { context: MRS[1], completion: 'Zizzi is by the riverside .' },
      { context: MRS[2], completion: 'Aromi serves Chinese food .' },
    ];
    const opts = { beams: 2, maxNewTokens: 6 };
    const r = await evaluateE2E(model, test, { ...opts, limit: 2 });
    expect(r.mrs).toEqual(MRS.slice(0, 2));
    expect(r.refs).toEqual([['The Eagle is a pub .', 'There is a pub called The Eagle .'], ['Zizzi is by the riverside .']]);
    expect(r.predictions).toEqual(await generateE2E(model, MRS.slice(0, 2), opts));
    expect(r.metrics).toEqual(computeE2EMetrics(r.refs, r.predictions));
    await expect(evaluateE2E(model, [])).rejects.toThrow('no test examples');
    await expect(evaluateE2E(model, test, { limit: 0 })).rejects.toThrow('limit must be an integer >= 1');
  });
});
