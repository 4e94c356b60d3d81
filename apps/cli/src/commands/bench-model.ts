// bench-model: LoRA training throughput on the active tfjs backend, for three model sizes, with
// FLOP rates against the backend's plain-matmul rate and where the time goes (blocks vs. LM head).
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import {
  DEFAULT_LORA, FullModel, PRESETS, SPLITLORA_ADAMW, disposeWeights, initGpt2Weights, lmHead, smoothedCrossEntropy, toWeights,
  type GPT2Config, type TokenBatch, type Weights,
} from '@splitlora/model';
import { matmulFlops, trainStepFlops } from '../flops';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';
import { formatTable } from '../table';

export interface BenchConfig {
  name: string;
  cfg: GPT2Config;
  batch: number;
  seqLen: number;
}

export const BENCH_CONFIGS: BenchConfig[] = [
  // GPT-2 small's shape, short sequence so that it finishes in minutes on 2 wasm cores.
  { name: 'gpt2', cfg: PRESETS.gpt2, batch: 1, seqLen: 64 },
  // The offline default: 3×48, full vocabulary; the LM head dwarfs the blocks.
  { name: 'nano', cfg: PRESETS.nano, batch: 8, seqLen: 128 },
  // In between (8×256): the blocks are no longer negligible, the head still leads.
  { name: 'mini', cfg: PRESETS.mini, batch: 4, seqLen: 128 },
];

const MATMUL = [512, 768, 3072] as const;

export interface BenchResult {
  name: string;
  layers: number;
  embd: number;
  heads: number;
  vocab: number;
  batch: number;
  seqLen: number;
  /** Median milliseconds of one FullModel.step (forward, backward, AdamW on the LoRA weights). */
  stepMs: number;
  tokensPerSec: number;
  msPerToken: number;
  /** Median forward pass with the NLL (no gradients). */
  forwardMs: number;
  /** Median ln_f + LM head + smoothed loss, forward and backward to the hidden states. */
  headMs: number;
  headTimeShare: number;
  stepGflop: number;
  headFlopShare: number;
  achievedGflops: number;
  /** achievedGflops / the backend's plain-matmul rate. */
  matmulRatio: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median wall time of `fn` over `reps` runs after `warmup` untimed runs. `fn` must wait for its results. */
async function timeMs(warmup: number, reps: number, fn: () => Promise<void>): Promise<number> {
  return (await timeInterleaved(warmup, reps, [fn]))[0];
}

/**
 * Median wall time of each function; one round runs each once, in turn, so that a machine whose
 * load changes during the run skews all of them alike rather than one.
 */
async function timeInterleaved(warmup: number, reps: number, fns: (() => Promise<void>)[]): Promise<number[]> {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times: number[][] = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      times[j].push(performance.now() - t0);
    }
  }
  return times.map(median);
}

/** The backend's FLOP rate on one plain 512×768 · 768×3072 matmul, in GFLOP/s. */
export async function matmulGflops(): Promise<number> {
  const [m, k, n] = MATMUL;
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const ms = await timeMs(1, 3, async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  });
  tf.dispose([a, b]);
  return matmulFlops(m, k, n) / ms / 1e6;
}

/** Deterministic token batch [B, T] with the loss on every position (mask all ones). */
function benchBatch(cfg: GPT2Config, B: number, T: number): TokenBatch {
  const N = B * T;
  const ids = Int32Array.from({ length: N }, (_, j) => (j * 7919 + 13) % cfg.vocabSize);
  const targets = Int32Array.from({ length: N }, (_, j) => ((j + 1) * 7919 + 13) % cfg.vocabSize);
  return { ids, targets, mask: new Float32Array(N).fill(1), batch: B, seqLen: T };
}

export async function benchConfig(c: BenchConfig, warmup: number, steps: number, matmulRate: number): Promise<BenchResult> {
  const { cfg, batch: B, seqLen: T } = c;
  if (T > cfg.nPositions) throw new CliError(`bench ${c.name}: seqLen ${T} exceeds n_positions ${cfg.nPositions}`);
  const N = B * T;
  const t0 = performance.now();
  const weights: Weights = toWeights(initGpt2Weights(cfg, 0));
  log(`bench ${c.name}: ${cfg.nLayer}×${cfg.nEmbd}, vocab ${cfg.vocabSize}, batch ${B}×${T}; weights ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const lora = { ...DEFAULT_LORA };
  const model = new FullModel(cfg, weights, { lora, optimizer: { lr: 2e-4, ...SPLITLORA_ADAMW }, seed: 0 });
  const b = benchBatch(cfg, B, T);
  // The head alone: hidden states [N, d] → ln_f → logits [N, V] → smoothed CE, and back to [N, d].
  const h = tf.randomNormal([N, cfg.nEmbd]);
  const targets = tf.tensor1d(b.targets, 'int32');
  const w = tf.fill([N], 1 / N) as tf.Tensor1D;
  const headGrad = tf.grads((x: tf.Tensor) => smoothedCrossEntropy(lmHead(cfg, weights, x as tf.Tensor2D), targets, w, 0.1));
  try {
    let seed = 0;
    const [stepMs, forwardMs, headMs] = await timeInterleaved(warmup, steps, [
      async () => {
        await model.step(b, { smoothing: 0.1, dropoutSeed: seed++ });
      },
      async () => {
        await model.nll(b);
      },
      async () => {
        const [g] = headGrad([h]);
        await g.data();
        g.dispose();
      },
    ]);
    log(`bench ${c.name}: step ${stepMs.toFixed(0)} ms, forward ${forwardMs.toFixed(0)} ms, head+loss ${headMs.toFixed(0)} ms`);
    const flops = trainStepFlops(cfg, lora, B, T);
    const achievedGflops = flops.total / stepMs / 1e6;
    return {
      name: c.name, layers: cfg.nLayer, embd: cfg.nEmbd, heads: cfg.nHead, vocab: cfg.vocabSize, batch: B, seqLen: T,
      stepMs, tokensPerSec: N / (stepMs / 1000), msPerToken: stepMs / N, forwardMs, headMs,
      headTimeShare: headMs / stepMs, stepGflop: flops.total / 1e9, headFlopShare: flops.head / flops.total,
      achievedGflops, matmulRatio: achievedGflops / matmulRate,
    };
  } finally {
    tf.dispose([h, targets, w]);
    model.dispose();
    disposeWeights(weights);
  }
}

const f = (x: number, digits: number) => x.toFixed(digits);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export function benchTables(results: BenchResult[], matmulRate: number): string {
  const speed = formatTable(
    ['config', 'layers×d', 'B×T', 'tokens/s', 'ms/token', 'GFLOP/step', 'GFLOP/s', 'matmul GFLOP/s', 'ratio'],
    results.map((r) => [r.name, `${r.layers}×${r.embd}`, `${r.batch}×${r.seqLen}`, f(r.tokensPerSec, 1), f(r.msPerToken, 2), f(r.stepGflop, 2), f(r.achievedGflops, 2), f(matmulRate, 2), f(r.matmulRatio, 2)]),
  );
  const where = formatTable(
    ['config', 'step ms', 'forward ms', 'head+loss fwd+bwd ms', 'head share of time', 'head share of FLOPs', 'rest ms (blocks, AdamW)'],
    results.map((r) => [r.name, f(r.stepMs, 0), f(r.forwardMs, 0), f(r.headMs, 0), pct(r.headTimeShare), pct(r.headFlopShare), f(Math.max(0, r.stepMs - r.headMs), 0)]),
  );
  return `${speed}\n\n${where}`;
}

interface BenchOptions {
  backend: string;
  steps: number;
  warmup: number;
  only?: string;
}

export function benchModelCommand(): Command {
  return new Command('bench-model')
    .description('LoRA training throughput (forward, backward, AdamW) for gpt2-, nano- and mini-sized models on the tfjs backend, with a time breakdown')
    .addOption(backendOption())
    .option('--steps <n>', 'timed steps per measurement (the median is reported)', intAtLeast(1), 3)
    .option('--warmup <n>', 'untimed steps before each measurement', intAtLeast(0), 1)
    .option('--only <names>', `comma-separated subset of ${BENCH_CONFIGS.map((c) => c.name).join(',')}`)
    .action(async (o: BenchOptions) => {
      const backend = await selectNodeBackend(o.backend, log);
      const names = o.only?.split(',').map((s) => s.trim()) ?? BENCH_CONFIGS.map((c) => c.name);
      const unknown = names.filter((n) => !BENCH_CONFIGS.some((c) => c.name === n));
      if (unknown.length > 0) throw new CliError(`--only: unknown config ${unknown.join(', ')}; choose from ${BENCH_CONFIGS.map((c) => c.name).join(', ')}`);
      const configs = BENCH_CONFIGS.filter((c) => names.includes(c.name));
      if (backend === 'cpu' && names.includes('gpt2')) log('bench: warning: the cpu backend runs at ≈1 GFLOP/s; the gpt2 config takes minutes per step (try --backend wasm or --only nano,mini)');
      const matmulRate = await matmulGflops();
      log(`bench: plain matmul ${MATMUL[0]}×${MATMUL[1]} · ${MATMUL[1]}×${MATMUL[2]}: ${matmulRate.toFixed(2)} GFLOP/s`);
      const results: BenchResult[] = [];
      for (const c of configs) results.push(await benchConfig(c, o.warmup, o.steps, matmulRate));
      process.stdout.write(`backend ${backend}; LoRA r=${DEFAULT_LORA.r} on ${DEFAULT_LORA.targets.join(',')}, label smoothing 0.1, loss on every position\n\n${benchTables(results, matmulRate)}\n`);
      printResult({ backend, matmulGflops: matmulRate, steps: o.steps, warmup: o.warmup, configs: results });
    });
}
