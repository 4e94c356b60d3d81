// The demo run that `npm start` starts (DEMO_RUN), with one volunteer, in one process:
// the client part (wte, wpe, blocks [0, cut)) and the server part train their own LoRA adapters
// with the demo's batch, sequence length, learning rates, server warm-up, label smoothing and f16
// wire, on a volunteer's sample shard (syntheticE2E). The held-out loss is the server's: the first
// examples of its synthetic held-out set. With one volunteer, FedAvg is the identity, so the
// aggregation is left out. Used by the default model's test and `npm run measure:default`.
import { encodeExamples, makeBatch, BatchIterator, mixSeed, syntheticE2E, type EncodedExample } from '@splitlora/data';
import { heldoutLoss, generateE2E } from '@splitlora/evaluation';
import {
  ClientModel, DEFAULT_LORA, FullModel, ServerModel, SPLITLORA_ADAMW, defaultCut, disposeWeights, linearSchedule, maskWeights, roundToF16, toWeights,
  type GPT2Config, type LoraConfig, type TensorRecord, type Weights,
} from '@splitlora/model';
import * as tf from '@tensorflow/tfjs';

/** The first run `serve` starts: small steps that show progress within a minute on a laptop tab. */
export const DEMO_RUN = { name: 'demo', interval: 10, rounds: 1000, minClients: 1, batch: 4, seqLen: 64, clientLr: 2e-3, serverLr: 2e-3, serverWarmup: 20, wire: 'f16' };

/** The server's synthetic held-out set (apps/server/src/evaluations.ts, HELDOUT_SEED). */
export const SERVER_HELDOUT_SEED = 987_654;

export interface DemoRunOptions {
  steps: number;
  /** Held-out examples (the first n of the server's set). */
  heldout: number;
  /** Held-out loss every this many steps (and at 0 and the end). */
  evalEvery?: number;
  /** Greedy generations before and after for the first n held-out MRs. */
  generate?: number;
  /** Seed of the sample shard (the page draws one at random). */
  shardSeed?: number;
  /** Overrides of DEMO_RUN (for tuning it). */
  settings?: Partial<typeof DEMO_RUN> & { lora?: Partial<LoraConfig> };
}

export interface DemoRunResult {
  curve: { step: number; heldoutNll: number }[];
  losses: number[];
  generations: { mr: string; before: string; after: string }[];
}

function evalModel(config: GPT2Config, weights: Weights, lora: LoraConfig, adapter: TensorRecord | undefined): FullModel {
  return new FullModel(config, weights, { lora: { ...lora, dropout: 0 }, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, ...(adapter && { adapter }) });
}

/** Runs the demo's first `steps` steps on `base` (host weights) and measures the held-out loss on the way. */
export async function demoRun(config: GPT2Config, base: TensorRecord, o: DemoRunOptions): Promise<DemoRunResult> {
  const s = { ...DEMO_RUN, ...o.settings };
  const weights = toWeights(base);
  const cut = defaultCut(config);
  const lora: LoraConfig = { ...DEFAULT_LORA, ...(s as { lora?: Partial<LoraConfig> }).lora }; // the run settings' defaults: r 4, alpha 32, dropout 0.1, q and v
  const totalServerSteps = s.rounds * s.interval;
  const client = new ClientModel(config, weights, cut, { lora, optimizer: { lr: s.clientLr, ...SPLITLORA_ADAMW }, seed: 0 });
  const server = new ServerModel(config, weights, cut, {
    lora,
    optimizer: { lr: s.serverLr, ...SPLITLORA_ADAMW, schedule: linearSchedule(Math.min(s.serverWarmup, Math.floor(totalServerSteps / 10)), totalServerSteps) },
    seed: 0,
  });
  const shard: EncodedExample[] = encodeExamples(syntheticE2E({ n: 200, seed: o.shardSeed ?? 1 }));
  const heldText = syntheticE2E({ n: 200, seed: SERVER_HELDOUT_SEED }).slice(0, o.heldout);
  const heldout = encodeExamples(heldText);
  const mrs = [...new Set(heldText.map((e) => e.context))].slice(0, o.generate ?? 0);
  const measure = async (adapter?: TensorRecord) => {
    const m = evalModel(config, weights, lora, adapter);
    try {
      const nll = (await heldoutLoss(m, heldout, { batch: 8 })).meanNll;
      const text = mrs.length > 0 ? await generateE2E(m, mrs, { beams: 1, noRepeatNgram: 4, maxNewTokens: 48 }) : [];
      return { nll, text };
    } finally {
      m.dispose();
    }
  };
  try {
    const first = await measure();
    const curve = [{ step: 0, heldoutNll: first.nll }];
    const losses: number[] = [];
    const order = new BatchIterator(shard.length, s.batch, { seed: 0 });
    let last = first;
    for (let step = 1; step <= o.steps; step++) {
      const b = makeBatch(order.next().indices.map((i) => shard[i]), { maxLen: s.seqLen });
      const dropoutSeed = mixSeed(0, step);
      const acts = client.forward(b.ids, b.batch, b.seqLen, dropoutSeed);
      const wireActs = tf.tensor(roundToF16((await acts.data()) as Float32Array), acts.shape); // f16 on the wire
      acts.dispose();
      const r = await server.step(wireActs, b.targets, maskWeights(b.mask), { smoothing: 0.1, dropoutSeed });
      wireActs.dispose();
      const wireGrad = tf.tensor(roundToF16((await r.gradActs.data()) as Float32Array), r.gradActs.shape);
      r.gradActs.dispose();
      client.backward(b.ids, b.batch, b.seqLen, dropoutSeed, wireGrad);
      wireGrad.dispose();
      losses.push(r.loss);
      if (step === o.steps || (o.evalEvery && step % o.evalEvery === 0)) {
        last = await measure({ ...(await client.adapter()), ...(await server.adapter()) });
        curve.push({ step, heldoutNll: last.nll });
      }
    }
    return { curve, losses, generations: mrs.map((mr, i) => ({ mr, before: first.text[i], after: last.text[i] })) };
  } finally {
    client.dispose();
    server.dispose();
    disposeWeights(weights);
  }
}
