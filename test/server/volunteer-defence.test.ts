// The activation defence on the volunteer's side (run settings actClip / actNoise): what the
// server receives is the clean cut activations clipped per row and noised, seeded per step; with
// no clip and actNoise 0 the upload and the training are bit-for-bit what they were without them.
import { Volunteer, applyDefence, clipRows, downloadClientModel, noiseKeyFromSeed, type VolunteerEvent } from '@splitlora/client';
import { encodeExamples, makeBatch, syntheticE2E } from '@splitlora/data';
import { ClientModel, SPLITLORA_ADAMW, defaultCut, toWeights, type TensorRecord } from '@splitlora/model';
import { decodeTensor, type ActivationsMessage, type FrontMessage } from '@splitlora/protocol';
import { parseSettings, type Run } from '@splitlora/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY } from '../kit/tiny';
import { createRun, socketTo, startServer, waitFor } from '../support/server-harness';

const LORA = { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v'] as ('q' | 'v')[] };
const BASE = { interval: 1, rounds: 3, minClients: 1, batch: 2, seqLen: 32, clientLr: 5e-3, serverLr: 5e-3, serverSchedule: 'constant', wire: 'f32', seed: 11, labelSmoothing: 0.1, lora: LORA };
const NOISE_SEED = 1234;
const d = TINY.nEmbd;

interface Received { step: number; acts: Float32Array; shape: number[] }

/** What the server's run receives, decoded as it decodes it (its activations and U-shape front handlers, wrapped). */
function captureActivations(run: Run): Received[] {
  const got: Received[] = [];
  const keep = (msg: ActivationsMessage | FrontMessage) => {
    const t = decodeTensor(msg.acts);
    got.push({ step: msg.step, acts: Float32Array.from(t.data), shape: t.shape });
  };
  const activations = run.activations.bind(run);
  run.activations = async (rec, msg: ActivationsMessage, bytes) => { keep(msg); return activations(rec, msg, bytes); };
  const front = run.front.bind(run);
  run.front = async (rec, msg: FrontMessage, bytes) => { keep(msg); return front(rec, msg, bytes); };
  return got;
}

describe('volunteer activation defence', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const examples = encodeExamples(syntheticE2E({ n: 12, seed: 5 }));
  beforeAll(async () => { server = await startServer(); });
  afterAll(async () => { await server?.app.close(); });

  async function train(settings: Record<string, unknown>) {
    const runId = await createRun(server.app, { ...BASE, ...settings });
    const run = server.manager.runs.get(runId)!;
    const received = captureActivations(run);
    const steps: { loss: number; indices: number[] }[] = [];
    const defences: VolunteerEvent[] = [];
    const v = new Volunteer({
      socket: socketTo(server.base), examples, backend: 'wasm', userAgent: 'vitest', seed: 3, noiseKey: noiseKeyFromSeed(NOISE_SEED),
      loadModel: async () => { const m = await downloadClientModel(server.base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
      onEvent: (e) => {
        if (e.type === 'step') steps.push({ loss: e.loss, indices: e.indices });
        if (e.type === 'defence') defences.push(e);
      },
    });
    v.start();
    await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
    const clientAdapter = (await v.adapter())!;
    const serverAdapter = (await run.opts.engine.snapshot()).adapter;
    v.stop();
    return { received, steps, defences, adapter: { ...clientAdapter, ...serverAdapter } as TensorRecord };
  }

  /** The clean cut activations of step 0 (fresh adapter, dropout 0), as the volunteer computes them. */
  function cleanStep0(indices: number[]): { data: Float32Array; shape: number[] } {
    const b = makeBatch(indices.map((i) => examples[i]), { maxLen: BASE.seqLen });
    const model = new ClientModel(TINY, toWeights(server.weights), defaultCut(TINY), { lora: LORA, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, seed: BASE.seed, transposedCopies: false });
    const acts = model.forward(b.ids, b.batch, b.seqLen, 0);
    const data = acts.dataSync() as Float32Array;
    acts.dispose();
    model.dispose();
    return { data: Float32Array.from(data), shape: [b.batch, b.seqLen, d] };
  }

  it('validates the run settings', () => {
    expect(parseSettings({ actClip: 2, actNoise: 0.5 })).toMatchObject({ actClip: 2, actNoise: 0.5 });
    expect(() => parseSettings({ actClip: 0 })).toThrow(/actClip/);
    expect(() => parseSettings({ actNoise: -1 })).toThrow(/actNoise/);
    expect(parseSettings({}).actClip).toBeUndefined();
  });

  it.each([['server'], ['client']])('labels %s: uploads the clean rows clipped to C, plus N(0, σ²) noise seeded by the step', { timeout: 90_000 }, async (labels) => {
    const C = 1.5;
    const sigma = 0.3;
    const r = await train({ actClip: C, actNoise: sigma, labels });
    expect(r.defences.at(-1)).toMatchObject({ type: 'defence', actClip: C, actNoise: sigma });
    expect(r.received.map((x) => x.step)).toEqual([0, 1, 2]);
    const clean = cleanStep0(r.steps[0].indices);
    const got = r.received[0];
    expect(got.shape).toEqual(clean.shape);

    // The clip did something: some clean rows are longer than C, and every clipped row is at most C.
    const norms = (x: Float32Array) => Array.from({ length: x.length / d }, (_, i) => Math.hypot(...x.subarray(i * d, (i + 1) * d)));
    expect(norms(clean.data).filter((n) => n > C).length).toBeGreaterThan(norms(clean.data).length / 4);
    const clipped = clipRows(Float32Array.from(clean.data), d, C);
    expect(Math.max(...norms(clipped))).toBeLessThanOrEqual(C * (1 + 1e-6));

    // What arrived minus the clipped rows is zero-mean noise of std σ, uncorrelated with the rows.
    const n = got.acts.length;
    let sum = 0, sq = 0, cross = 0, rowSq = 0;
    for (let i = 0; i < n; i++) {
      const e = got.acts[i] - clipped[i];
      sum += e;
      sq += e * e;
      cross += e * clipped[i];
      rowSq += clipped[i] * clipped[i];
    }
    const mean = sum / n;
    const std = Math.sqrt(sq / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan((4 * sigma) / Math.sqrt(n));
    expect(Math.abs(std / sigma - 1)).toBeLessThan(0.1);
    expect(Math.abs(cross / Math.sqrt(sq * rowSq))).toBeLessThan(0.1);

    // Seeded by (secret, step): the same step gives the same bytes (a retry adds nothing), the next step new noise.
    expect(got.acts).toEqual(applyDefence(Float32Array.from(clean.data), d, { actClip: C, actNoise: sigma, noiseKey: noiseKeyFromSeed(NOISE_SEED) }, 0));
    const noise0 = got.acts.map((x, i) => x - clipped[i]);
    const other = applyDefence(Float32Array.from(clean.data), d, { actClip: C, actNoise: sigma, noiseKey: noiseKeyFromSeed(NOISE_SEED) }, 1).map((x, i) => x - clipped[i]);
    expect(noise0.some((x, i) => Math.abs(x - other[i]) > sigma / 10)).toBe(true);
    expect(r.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
  });

  it('with no clip and actNoise 0, the upload is the clean rows and training is bit-for-bit unchanged', { timeout: 90_000 }, async () => {
    const plain = await train({});
    const zero = await train({ actNoise: 0 });
    expect(zero.defences.at(-1)).toMatchObject({ actClip: null, actNoise: 0 });
    const clean = cleanStep0(plain.steps[0].indices);
    expect(plain.received[0].acts).toEqual(clean.data);
    expect(zero.received.map((x) => x.acts)).toEqual(plain.received.map((x) => x.acts));
    expect(zero.steps).toEqual(plain.steps);
    expect(Object.keys(zero.adapter).sort()).toEqual(Object.keys(plain.adapter).sort());
    for (const [name, t] of Object.entries(plain.adapter)) expect(zero.adapter[name].data, name).toEqual(t.data);
    expect(Object.values(plain.adapter).some((t) => t.data.some((x) => x !== 0) && t.shape[0] === 4)).toBe(true); // it trained
  });
});
