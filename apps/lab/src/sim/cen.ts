// CenLoRA: one whole model with LoRA on the pooled data (all shards), one optimiser. It takes
// clients·S steps of B examples, as many batches as SplitLoRA and FedLoRA process in total, in the
// order client 0's volunteer would draw them from the pool. Its "clients" only upload their data.
import * as tf from '@tensorflow/tfjs';
import type { Weights } from '@splitlora/model';
import { BatchDrawer, SeqLenStats, clientSeed, stepDropoutSeed } from './batches';
import { toJsonl } from './data';
import { checkpointDue, newFullModel } from './local-models';
import type { Checkpoint, MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';

export async function runCen(model: SimModel, weights: Weights, s: TrainSettings, data: SimData, hooks: RunHooks = {}): Promise<MethodRun> {
  const pooled = data.shards.flat();
  const full = newFullModel(model, weights, s);
  const seed = clientSeed(s.seed, 0);
  const drawer = new BatchDrawer(pooled, s.batch, s.seqLen, seed);
  const total = s.clients * s.steps;
  const perRound = s.clients * s.interval; // CenLoRA steps per SplitLoRA/FedLoRA round
  const rounds = s.steps / s.interval;
  const losses: number[] = [];
  const seqLens = new SeqLenStats();
  const checkpoints: Checkpoint[] = [{ globalStep: 0, round: 0, wallMs: 0, adapter: await full.adapter() }];
  const t0 = performance.now();
  try {
    for (let step = 0; step < total; step++) {
      const { batch } = drawer.next();
      seqLens.add(batch.seqLen);
      const { loss } = await full.step(batch, { smoothing: s.labelSmoothing, dropoutSeed: stepDropoutSeed(seed, step) });
      losses.push(loss);
      hooks.onStep?.(step + 1, total, loss);
      if ((step + 1) % perRound === 0) {
        const round = (step + 1) / perRound;
        if (checkpointDue(round, rounds, s.evalEvery)) checkpoints.push({ globalStep: step + 1, round, wallMs: performance.now() - t0, adapter: await full.adapter() });
      }
    }
  } finally {
    full.dispose();
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  // The clients' only traffic: each uploads its shard (as JSONL text) once.
  const upload = data.shardText.map((t) => new TextEncoder().encode(toJsonl(t)).byteLength);
  return {
    method: 'cen', mode: 'in-process', clients: s.clients, stepsPerClient: total, aggregations: 0, losses: [losses], checkpoints,
    bytesUp: upload, bytesDown: upload.map(() => 0), backends: [tf.getBackend()], wallSeconds,
    meanSeqLen: seqLens.mean, maxSeqLen: seqLens.max,
  };
}
