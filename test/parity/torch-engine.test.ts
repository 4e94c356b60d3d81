// The torch engine against the tfjs engine (wasm) on a tiny model: the same requests give the same
// losses, cut gradients, LoRA gradients (AdamW's first moment after one step is 0.1·g) and AdamW
// moments after 3 steps, within 1e-5 relative, for SplitLoRA and U-shaped steps with seeded
// dropout on; a snapshot taken on one engine continues on the other; the held-out NLL of an
// evaluation job is the same within 1e-4.
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights, initLora, toWeights, type GPT2Config, type LoraTarget } from '@splitlora/model';
import { runEvaluationJob } from '../../apps/server/src/compute/evaluate-job';
import { torchProbe } from '../support/torch';
import { LocalServerCompute, WorkerServerCompute, type ServerCompute, type ServerPartSpec, type ServerSnapshot, type StepRequest, type TorchCompute } from '@splitlora/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordErr, relErr, startTorch, torchMissing } from '../support/torch';

const cfg: GPT2Config = { vocabSize: 61, nPositions: 32, nEmbd: 16, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const targets: LoraTarget[] = ['q', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
const base: ServerPartSpec = {
  config: cfg, cut: 1, lora: { r: 2, alpha: 4, dropout: 0.1, targets }, seed: 3, lr: 1e-2,
  schedule: { kind: 'linear', warmup: 2, total: 10 }, smoothing: 0.1,
};
const TOL = 1e-5;
const host = (shape: number[], k: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(j * 0.37 + k)) });

/** Two clients of different lengths; the loss covers the second half of each row (a half-prompt mask). */
function group(step: number): StepRequest[] {
  return [[2, 6], [3, 4]].map(([B, T], c) => {
    const mask = Float32Array.from({ length: B * T }, (_, j) => (j % T >= T / 2 ? 1 : 0));
    return { clientId: `c${c}`, acts: host([B, T, cfg.nEmbd], 10 * step + c), targets: Int32Array.from({ length: B * T }, (_, j) => (j * 7 + step + c) % cfg.vocabSize), mask };
  });
}

const LOSS_FREE = (s: ServerSnapshot) => ({ step: s.optimizer.step, stats: s.stats });

describe.skipIf(torchMissing)('torch engine = tfjs engine (wasm)', () => {
  const record = initGpt2Weights(cfg, 2);
  let weights: ReturnType<typeof toWeights>;
  let torch: TorchCompute;
  const open = (spec: ServerPartSpec, key: string) => WorkerServerCompute.open(torch, key, spec);

  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    weights = toWeights(record);
    torch = await startTorch(cfg, record);
  });
  afterAll(async () => { await torch?.close(); });

  async function splitSteps(c: ServerCompute, n: number) {
    const out = [];
    for (let s = 0; s < n; s++) out.push(await c.step(group(s)));
    return out;
  }

  it('SplitLoRA steps: losses, cut gradients, LoRA gradients and AdamW moments after 3 steps', async () => {
    const tf = new LocalServerCompute(weights, base);
    const th = await open(base, 'split');
    const one = { tf: await splitSteps(tf, 1), th: await splitSteps(th, 1) };
    const [s1tf, s1th] = [await tf.snapshot(), await th.snapshot()];
    // After one step m = (1 − β1)·g: every LoRA gradient agrees.
    expect(Object.keys(s1th.optimizer.m).length).toBe(2 * targets.length * (cfg.nLayer - base.cut));
    expect(recordErr(s1th.optimizer.m, s1tf.optimizer.m)).toBeLessThan(TOL);
    const rest = { tf: await splitSteps(tf, 2), th: await splitSteps(th, 2) };
    for (const [a, b] of [[one.th, one.tf], [rest.th, rest.tf]] as const) {
      for (let s = 0; s < a.length; s++) {
        for (let c = 0; c < 2; c++) {
          expect(Math.abs(a[s].replies[c].loss - b[s].replies[c].loss) / b[s].replies[c].loss).toBeLessThan(TOL);
          expect(a[s].replies[c].grad.shape).toEqual(b[s].replies[c].grad.shape);
          expect(relErr(a[s].replies[c].grad.data, b[s].replies[c].grad.data)).toBeLessThan(TOL);
        }
      }
    }
    const [s3tf, s3th] = [await tf.snapshot(), await th.snapshot()];
    expect(LOSS_FREE(s3th)).toEqual(LOSS_FREE(s3tf));
    expect(recordErr(s3th.adapter, s3tf.adapter)).toBeLessThan(TOL);
    expect(recordErr(s3th.optimizer.m, s3tf.optimizer.m)).toBeLessThan(TOL);
    expect(recordErr(s3th.optimizer.v, s3tf.optimizer.v)).toBeLessThan(TOL);
    // The adapter moved: the comparison is not between two untouched inits.
    expect(recordErr(s3th.adapter, s1tf.adapter)).toBeGreaterThan(1e-3);
    await th.dispose();
    await tf.dispose();
  });

  it('U-shaped steps: h_L, ∂loss/∂h_k and AdamW moments after 3 steps, two clients batched', async () => {
    const spec: ServerPartSpec = { ...base, labels: 'client' };
    const tf = new LocalServerCompute(weights, spec);
    const th = await open(spec, 'ushape');
    for (let s = 0; s < 3; s++) {
      const fwd = group(s).map((g) => ({ clientId: g.clientId, step: s, acts: g.acts }));
      const [ftf, fth] = [await tf.forwardTop(fwd), await th.forwardTop(fwd)];
      for (let c = 0; c < 2; c++) expect(relErr(fth.replies[c].top.data, ftf.replies[c].top.data)).toBeLessThan(TOL);
      const bwd = fwd.map((f, c) => ({ clientId: f.clientId, step: s, grad: host(f.acts.shape, 100 + s + c) }));
      const [btf, bth] = [await tf.backwardTop(bwd), await th.backwardTop(bwd)];
      for (let c = 0; c < 2; c++) expect(relErr(bth.replies[c]!.grad.data, btf.replies[c]!.grad.data)).toBeLessThan(TOL);
    }
    // A backward with nothing held answers null on both.
    const stale = [{ clientId: 'c0', step: 0, grad: host([2, 6, cfg.nEmbd], 1) }];
    expect((await th.backwardTop(stale)).replies).toEqual([null]);
    const [stf, sth] = [await tf.snapshot(), await th.snapshot()];
    expect(LOSS_FREE(sth)).toEqual(LOSS_FREE(stf));
    expect(recordErr(sth.adapter, stf.adapter)).toBeLessThan(TOL);
    expect(recordErr(sth.optimizer.m, stf.optimizer.m)).toBeLessThan(TOL);
    expect(recordErr(sth.optimizer.v, stf.optimizer.v)).toBeLessThan(TOL);
    await th.dispose();
    await tf.dispose();
  });

  it('a snapshot taken on one engine continues on the other', async () => {
    const tf = new LocalServerCompute(weights, base);
    const th = await open(base, 'cross-a');
    await splitSteps(tf, 2);
    await splitSteps(th, 2);
    const fromTf = await tf.snapshot();
    const fromTh = await th.snapshot();
    // tfjs → torch and torch → tfjs, each continued for 2 steps against the engine it came from.
    const thFromTf = await open({ ...base, from: fromTf }, 'cross-b');
    const tfFromTh = new LocalServerCompute(weights, { ...base, from: fromTh });
    const [a, b, c, d] = [await splitSteps(thFromTf, 2), await splitSteps(tf, 2), await splitSteps(tfFromTh, 2), await splitSteps(th, 2)];
    expect(Math.abs(a[1].replies[0].loss - b[1].replies[0].loss) / b[1].replies[0].loss).toBeLessThan(TOL);
    expect(Math.abs(c[1].replies[1].loss - d[1].replies[1].loss) / d[1].replies[1].loss).toBeLessThan(TOL);
    const snaps = [await thFromTf.snapshot(), await tf.snapshot(), await tfFromTh.snapshot(), await th.snapshot()];
    expect(recordErr(snaps[0].adapter, snaps[1].adapter)).toBeLessThan(TOL);
    expect(recordErr(snaps[0].optimizer.v, snaps[1].optimizer.v)).toBeLessThan(TOL);
    expect(recordErr(snaps[2].adapter, snaps[3].adapter)).toBeLessThan(TOL);
    expect(LOSS_FREE(snaps[2])).toEqual(LOSS_FREE(snaps[3]));
    // restore() on a live part too: torch rewinds to the tfjs snapshot and repeats tfjs's steps.
    await th.restore(fromTf);
    const again = await splitSteps(th, 2);
    expect(relErr(again[1].replies[0].grad.data, b[1].replies[0].grad.data)).toBeLessThan(TOL);
    for (const x of [th, thFromTf, tf, tfFromTh]) await x.dispose();
  });

  it('held-out NLL of an evaluation job equals the tfjs engine\'s within 1e-4', async () => {
    // The real vocabulary: the held-out set is BPE-encoded text.
    const big: GPT2Config = { ...cfg, vocabSize: 50257, nPositions: 128 };
    const host = initGpt2Weights(big, 4);
    const lora = { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] as LoraTarget[] };
    const adapter = initLora(big, lora, 0, big.nLayer, 5);
    for (const [k, t] of Object.entries(adapter)) if (k.endsWith('lora_B')) t.data = t.data.map((_, j) => Math.sin(j) * 3);
    const job = { syntheticSeed: 11, limit: 24, e2eMrs: 0, lora, adapter };
    const w = toWeights(host);
    const onTfjs = await runEvaluationJob(big, w, job, () => {});
    const onTorch = await runEvaluationJob(big, w, { ...job, torch: { python: torchProbe.python, device: 'cpu', threads: 1 } }, () => {}, host);
    expect(onTorch.tokens).toBe(onTfjs.tokens);
    expect(Number(onTfjs.meanNll)).toBeGreaterThan(5);
    expect(Math.abs(Number(onTorch.meanNll) - Number(onTfjs.meanNll)) / Number(onTfjs.meanNll)).toBeLessThan(1e-4);
    // The adapter is used: without it the NLL moves.
    const bare = await runEvaluationJob(big, w, { ...job, adapter: initLora(big, lora, 0, big.nLayer, 5), torch: { python: torchProbe.python, device: 'cpu', threads: 1 } }, () => {}, host);
    expect(Math.abs(Number(bare.meanNll) - Number(onTorch.meanNll))).toBeGreaterThan(1e-3);
  });
});
