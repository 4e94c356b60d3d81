// A step spread over worker threads (ComputePool) is the step of one worker: the rows' gradients
// with the whole step's dropout masks, summed, then one AdamW update on every replica. Checked in
// this thread (slices + sum + apply = step, and a wrong row offset is caught), then over real
// threads: 2 workers against 1 on 3 batched steps of 2 clients of different lengths with dropout
// on (losses, cut gradients, adapter, AdamW moments, stats within 1e-5). A worker killed mid-step
// fails the whole pool with ComputeUnavailable, and the restarted pool carries on exactly.
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights, toWeights, type GPT2Config, type TensorRecord } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputeUnavailable } from '../engine';
import { ComputePool, rowShares, sumRecords } from './compute-pool';
import { ComputeWorker, sharedRecord } from './compute-worker';
import { resolveEngine, trainCompute } from './engines';
import type { ComputeRequest } from './messages';
import type { RequestOptions } from './service';
import { LocalServerCompute, packStep, type ServerPartSpec, type ServerSnapshot, type StepReply, type StepRequest } from './server-compute';

const cfg: GPT2Config = { vocabSize: 61, nPositions: 32, nEmbd: 16, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const spec: ServerPartSpec = { config: cfg, cut: 1, lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] }, seed: 3, lr: 1e-2, schedule: { kind: 'linear', warmup: 1, total: 10 }, smoothing: 0.1 };
const host = (shape: number[], k: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(j * 0.37 + k)) });

/** Client a: 3 rows of 7 tokens; b: 2 rows of 5 (padded in the batch). 2 workers split a's rows. */
function group(step: number): StepRequest[] {
  const client = (clientId: string, B: number, T: number, k: number): StepRequest => ({
    clientId,
    acts: host([B, T, cfg.nEmbd], k + step * 10),
    targets: Int32Array.from({ length: B * T }, (_, j) => (j * 7 + k + step) % cfg.vocabSize),
    mask: Float32Array.from({ length: B * T }, (_, j) => (j % T >= 2 ? 1 : 0)),
  });
  return [client('a', 3, 7, 1), client('b', 2, 5, 2)];
}

/** ‖a − b‖ / ‖b‖. */
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
};
const recordErr = (a: TensorRecord, b: TensorRecord) => {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  return Math.max(...Object.keys(b).map((n) => relErr(a[n].data, b[n].data)));
};

function expectSameReplies(got: StepReply[], want: StepReply[], what: string): void {
  expect(got.map((r) => r.grad.shape)).toEqual(want.map((r) => r.grad.shape));
  for (const [j, r] of want.entries()) {
    expect(Math.abs(got[j].loss - r.loss) / Math.abs(r.loss), `${what}: loss of client ${j}`).toBeLessThan(1e-5);
    expect(relErr(got[j].grad.data, r.grad.data), `${what}: cut gradient of client ${j}`).toBeLessThan(1e-5);
  }
}

function expectSameSnapshot(got: ServerSnapshot, want: ServerSnapshot, what: string): void {
  expect(got.stats, `${what}: stats`).toEqual(want.stats);
  expect(got.optimizer.step, `${what}: optimizer step`).toBe(want.optimizer.step);
  expect(recordErr(got.adapter, want.adapter), `${what}: adapter`).toBeLessThan(1e-5);
  expect(recordErr(got.optimizer.m, want.optimizer.m), `${what}: AdamW m`).toBeLessThan(1e-5);
  expect(recordErr(got.optimizer.v, want.optimizer.v), `${what}: AdamW v`).toBeLessThan(1e-5);
}

describe('a step spread over row slices', () => {
  beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

  it('rowGrads of the slices, summed and applied, is step(); a wrong row offset is not', async () => {
    const weights = toWeights(initGpt2Weights(cfg, 2));
    const whole = new LocalServerCompute(weights, spec);
    const spread = new LocalServerCompute(weights, spec);
    let tensors = 0;
    for (let step = 0; step < 3; step++) {
      const g = group(step);
      const want = await whole.step(g);
      const p = packStep(g, cfg.nEmbd);
      const T = p.T, d = cfg.nEmbd;
      const slices = rowShares(p.rows, 2).map(([r0, r1]) => ({ row0: r0, rows: r1 - r0, T, acts: p.acts.slice(r0 * T * d, r1 * T * d), targets: p.targets.slice(r0 * T, r1 * T), weights: p.weights.slice(r0 * T, r1 * T) }));
      expect(slices.map((s) => s.rows)).toEqual([2, 3]);
      const parts = await Promise.all(slices.map((s) => spread.rowGrads(s)));
      // A slice at offset 0 gets rows 0.. of the masks, not its own: the adapter gradients show it.
      const wrong = await spread.rowGrads({ ...slices[1], row0: 0 });
      expect(recordErr(wrong.grads, parts[1].grads)).toBeGreaterThan(1e-3);
      const got = Float32Array.from([...parts[0].gradActs, ...parts[1].gradActs]);
      let lossA = 0;
      for (let j = 0; j < 3 * T; j++) lossA += (j < 2 * T ? parts[0].rowLoss[j] : parts[1].rowLoss[j - 2 * T]) * 2;
      expect(Math.abs(lossA - want.replies[0].loss) / want.replies[0].loss).toBeLessThan(1e-5);
      // Client a's rows [0, 3) at their own lengths, ×n = 2 as the reply has them.
      const a = want.replies[0].grad.data;
      expect(relErr(Float32Array.from(got.subarray(0, 3 * T * d), (x) => x * 2), a)).toBeLessThan(1e-5);
      spread.applyGrads(sumRecords(parts.map((r) => r.grads)), 3 * 7 + 2 * 5);
      expectSameSnapshot(await spread.snapshot(), await whole.snapshot(), `step ${step}`);
      if (step === 0) tensors = tf.memory().numTensors; // AdamW's moments exist from step 1 on
    }
    expect(tf.memory().numTensors).toBe(tensors); // nothing leaks per step
    await whole.dispose();
    await spread.dispose();
  });

  it('the tfjs engine choice: one worker by default, a pool for workers (or --threads) > 1', async () => {
    const base = { backend: 'wasm', config: cfg, weights: initGpt2Weights(cfg, 2) };
    expect(await resolveEngine({ engine: 'tfjs' })).toEqual({ engine: 'tfjs', workers: 1, why: '--engine tfjs' });
    expect(trainCompute(await resolveEngine({ engine: 'tfjs' }), base)).toBeInstanceOf(ComputeWorker);
    const two = await resolveEngine({ engine: 'tfjs', threads: 2 });
    expect(two.why).toBe('--engine tfjs, a step spread over 2 worker threads');
    const pool = trainCompute(two, base);
    expect(pool).toBeInstanceOf(ComputePool);
    expect((pool as ComputePool).workers).toHaveLength(2);
    expect(await resolveEngine({ engine: 'tfjs', threads: 4, workers: 3 })).toMatchObject({ workers: 3 });
    await expect(resolveEngine({ engine: 'tfjs', workers: 0 })).rejects.toThrow(/whole number/);
  });

  it('rowShares: contiguous, covering, at most one row apart, never an empty share', () => {
    expect(rowShares(5, 2)).toEqual([[0, 2], [2, 5]]);
    expect(rowShares(16, 3)).toEqual([[0, 5], [5, 10], [10, 16]]);
    expect(rowShares(1, 4)).toEqual([[0, 1]]);
  });
});

describe('ComputePool (2 worker threads) against one ComputeWorker', () => {
  const weights = sharedRecord(initGpt2Weights(cfg, 2));
  const single = new ComputeWorker({ role: 'train', backend: 'wasm', config: cfg, weights });
  const pool = new ComputePool({ workers: 2, backend: 'wasm', config: cfg, weights });
  const failures: string[] = [];
  pool.on('failed', (reason: string) => failures.push(reason));
  beforeAll(async () => { await Promise.all([single.start(), pool.start()]); });
  afterAll(async () => { await Promise.all([single.close(), pool.close()]); });

  const both = <T>(req: ComputeRequest) => Promise.all([pool.request<T>(req), single.request<T>(req)]);

  it('3 batched steps: the same losses, cut gradients, adapter, AdamW moments and stats', async () => {
    expect(pool.health).toMatchObject({ status: 'ready', backend: 'wasm (2 workers)', restarts: 0 });
    await both({ op: 'open', key: 'r', spec });
    for (let step = 0; step < 3; step++) {
      const [got, want] = await both<{ replies: StepReply[] }>({ op: 'step', key: 'r', group: group(step) });
      expectSameReplies(got.replies, want.replies, `step ${step}`);
    }
    const [got, want] = await both<ServerSnapshot>({ op: 'snapshot', key: 'r' });
    expect(want.stats).toEqual({ serverSteps: 3, tokens: 3 * (3 * 7 + 2 * 5) });
    expectSameSnapshot(got, want, 'after 3 steps');
    // Worker 1's replica took the same updates (snapshots come from worker 0).
    const w1 = await pool.workers[1].request<ServerSnapshot>({ op: 'snapshot', key: 'r' });
    expectSameSnapshot(w1, got, 'worker 1');
    expect(recordErr(w1.adapter, got.adapter)).toBe(0);
  });

  it('a U-shaped part runs on worker 0 and answers as one worker does', async () => {
    const u: ServerPartSpec = { ...spec, labels: 'client' };
    await both({ op: 'open', key: 'u', spec: u });
    const [f0, f1] = await both<{ replies: { top: { data: Float32Array } }[] }>({ op: 'forward-top', key: 'u', group: [{ clientId: 'a', step: 0, acts: host([2, 5, 16], 1) }] });
    expect(relErr(f0.replies[0].top.data, f1.replies[0].top.data)).toBe(0);
    const [b0, b1] = await both<{ replies: { grad: { data: Float32Array } }[] }>({ op: 'backward-top', key: 'u', group: [{ clientId: 'a', step: 0, grad: host([2, 5, 16], 2) }] });
    expect(relErr(b0.replies[0].grad.data, b1.replies[0].grad.data)).toBe(0);
    await both({ op: 'close', key: 'u' });
  });

  it('a worker killed mid-step fails the pool with ComputeUnavailable; the restarted pool steps exactly', async () => {
    const before = await single.request<ServerSnapshot>({ op: 'snapshot', key: 'r' });
    // Worker 2 dies right after its share of the step is posted.
    const w = pool.workers[1];
    const request = w.request.bind(w);
    w.request = <T>(req: ComputeRequest, opts?: RequestOptions) => {
      const r = request<T>(req, opts);
      if (req.op === 'grads') setImmediate(() => void w.kill());
      return r;
    };
    const step = pool.request({ op: 'step', key: 'r', group: group(3) });
    await expect(step).rejects.toBeInstanceOf(ComputeUnavailable);
    w.request = request;
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^worker 2 of 2: worker exited/);
    expect(pool.health.status).toBe('failed');
    await expect(pool.request({ op: 'snapshot', key: 'r' })).rejects.toBeInstanceOf(ComputeUnavailable);

    await pool.start();
    expect(pool.health).toMatchObject({ status: 'ready', restarts: 1 });
    await pool.request({ op: 'open', key: 'r', spec: { ...spec, from: before } });
    const [got, want] = await both<{ replies: StepReply[] }>({ op: 'step', key: 'r', group: group(3) });
    expectSameReplies(got.replies, want.replies, 'after the restart');
    const [a, b] = await both<ServerSnapshot>({ op: 'snapshot', key: 'r' });
    expectSameSnapshot(a, b, 'after the restart');
    expect(failures).toHaveLength(1);
  });
});
