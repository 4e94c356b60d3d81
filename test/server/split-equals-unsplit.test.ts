// One client with aggregation interval 1 is SplitLoRA with nothing to average: it must train
// exactly like the unsplit model in one process on the same batches.
import { encodeExamples, makeBatch, syntheticE2E } from '@splitlora/data';
import { FullModel, SPLITLORA_ADAMW, initLora, toWeights, type TensorRecord } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY } from '../kit/tiny';
import { createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';

describe('SplitLoRA with one client equals the unsplit model', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => { server = await startServer(); });
  afterAll(async () => { await server?.app.close(); });

  it('losses and LoRA weights agree after 5 steps', async () => {
    const examples = encodeExamples(syntheticE2E({ n: 20, seed: 5 }));
    const steps: { loss: number; indices: number[] }[] = [];
    const v = startVolunteer(server.base, examples, 3, (e) => { if (e.type === 'step') steps.push({ loss: e.loss, indices: e.indices }); });
    const lora = { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] as const };
    const lr = 5e-3;
    const runId = await createRun(server.app, { interval: 1, rounds: 5, minClients: 1, batch: 3, seqLen: 48, clientLr: lr, serverLr: lr, serverSchedule: 'constant', wire: 'f32', seed: 11, labelSmoothing: 0.1, lora });
    await waitFor(() => server.manager.runs.get(runId)?.state === 'finished', 60_000, 'the run to finish');
    expect(steps).toHaveLength(5);

    // The same 5 batches through the whole model, one optimizer on all adapters.
    const adapter: TensorRecord = { ...initLora(TINY, { ...lora, targets: [...lora.targets] }, 0, TINY.nLayer, 11) };
    const full = new FullModel(TINY, toWeights(server.weights), { lora: { ...lora, targets: [...lora.targets] }, optimizer: { lr, ...SPLITLORA_ADAMW }, adapter });
    for (const [j, s] of steps.entries()) {
      const b = makeBatch(s.indices.map((i) => examples[i]), { maxLen: 48 });
      const { loss } = await full.step(b, { smoothing: 0.1, dropoutSeed: null });
      expect(Math.abs(loss - s.loss), `step ${j}`).toBeLessThan(1e-4);
    }
    const want = await full.adapter();
    const clientHeld = (await v.adapter())!;
    const serverHeld = (await server.manager.runs.get(runId)!.opts.engine.snapshot()).adapter;
    const got = { ...clientHeld, ...serverHeld };
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [name, t] of Object.entries(want)) {
      const d = got[name].data;
      let maxDiff = 0;
      for (let j = 0; j < d.length; j++) maxDiff = Math.max(maxDiff, Math.abs(d[j] - t.data[j]));
      expect(maxDiff, name).toBeLessThan(1e-4);
    }
    expect(Object.values(want).some((t) => t.data.some((x) => x !== 0) && t.shape[0] === 4)).toBe(true); // B moved off zero
    v.stop();
    full.dispose();
  });
});
