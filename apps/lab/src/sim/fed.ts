// FedLoRA: every client holds the whole model with LoRA and its own AdamW, trains I local steps on
// its shard, then all adapters are replaced by their example-weighted FedAvg (the server's
// strategy; optimiser states are kept, as SplitLoRA's clients keep theirs). Clients run one
// after another here; the latency model accounts for them running in parallel.
import * as tf from '@tensorflow/tfjs';
import { fedAvg } from '@splitlora/federation';
import type { FullModel, Weights } from '@splitlora/model';
import { PROTOCOL_VERSION } from '@splitlora/protocol';
import { BatchDrawer, SeqLenStats, clientSeed, stepDropoutSeed } from './batches';
import { checkpointDue, newFullModel } from './local-models';
import type { Checkpoint, MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';
import { messageBytes } from './wire-meter';

export async function runFed(model: SimModel, weights: Weights, s: TrainSettings, data: SimData, hooks: RunHooks = {}): Promise<MethodRun> {
  if (s.steps % s.interval !== 0) throw new Error(`--steps ${s.steps} must be a multiple of --interval ${s.interval}`);
  const models: FullModel[] = data.shards.map(() => newFullModel(model, weights, s));
  const seeds = data.shards.map((_, c) => clientSeed(s.seed, c));
  const drawers = data.shards.map((shard, c) => new BatchDrawer(shard, s.batch, s.seqLen, seeds[c]));
  const rounds = s.steps / s.interval;
  const total = s.clients * s.steps;
  const losses: number[][] = data.shards.map(() => []);
  const bytesUp = data.shards.map(() => 0);
  const bytesDown = data.shards.map(() => 0);
  const seqLens = new SeqLenStats();
  const checkpoints: Checkpoint[] = [{ globalStep: 0, round: 0, wallMs: 0, adapter: await models[0].adapter() }];
  const t0 = performance.now();
  let done = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [c, m] of models.entries()) {
        for (let j = 0; j < s.interval; j++) {
          const step = round * s.interval + j;
          const { batch } = drawers[c].next();
          seqLens.add(batch.seqLen);
          const { loss } = await m.step(batch, { smoothing: s.labelSmoothing, dropoutSeed: stepDropoutSeed(seeds[c], step) });
          losses[c].push(loss);
          done += 1;
          hooks.onStep?.(done, total, loss);
        }
      }
      const updates = await Promise.all(models.map(async (m, c) => ({ tensors: await m.adapter(), examples: data.shards[c].length })));
      const avg = fedAvg(updates);
      for (const m of models) m.loadAdapter(avg);
      // What the same protocol would carry: each client's adapter up, the average down.
      updates.forEach((u, c) => {
        bytesUp[c] += messageBytes('adapter', { v: PROTOCOL_VERSION, runId: 'run-0000000000-000000', round, examples: u.examples, localSteps: s.interval, tensors: u.tensors }, true);
        bytesDown[c] += messageBytes('aggregate', { v: PROTOCOL_VERSION, runId: 'run-0000000000-000000', round, tensors: avg, participants: s.clients }, false);
      });
      if (checkpointDue(round + 1, rounds, s.evalEvery)) checkpoints.push({ globalStep: done, round: round + 1, wallMs: performance.now() - t0, adapter: avg });
    }
  } finally {
    for (const m of models) m.dispose();
  }
  return {
    method: 'fed', mode: 'in-process', clients: s.clients, stepsPerClient: s.steps, aggregations: rounds, losses, checkpoints,
    bytesUp, bytesDown, backends: data.shards.map(() => tf.getBackend()), wallSeconds: (performance.now() - t0) / 1000,
    meanSeqLen: seqLens.mean, maxSeqLen: seqLens.max,
  };
}
