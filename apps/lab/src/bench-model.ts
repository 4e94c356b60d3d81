// bench-model: LoRA training throughput on the active tfjs backend, for several model sizes, with
// FLOP rates against the backend's plain-matmul rate, where the time goes (blocks vs. LM head) and
// the memory a step takes (weights, transposed copies, peak tensors, the wasm heap).
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_LORA, FullModel, PRESETS, SPLITLORA_ADAMW, ServerModel, activeRows, disposeWeights, finalNorm, gatherRows, initGpt2Weights,
  maskWeights, tiedEmbedding, tiedHeadLoss, toWeights, transposedBytes,
  type GPT2Config, type TokenBatch, type Weights,
} from '@splitlora/model';
import { matmulFlops, trainStepFlops } from './cost-model';
import type { Experiment } from './experiment';
import { formatTable } from './table';

export interface BenchConfig {
  name: string;
  cfg: GPT2Config;
  batch: number;
  seqLen: number;
  /** Leading share of each sequence that is prompt (mask 0), as on E2E; default 0 (loss everywhere). */
  promptFraction?: number;
  /** Time the server part from this cut (ServerModel on random activations) instead of the whole model. */
  serverCut?: number;
  /** Runs only when named in --only (too slow or too big for the default run). */
  optIn?: boolean;
}

export const BENCH_CONFIGS: BenchConfig[] = [
  // GPT-2 small's shape, short sequence so that it finishes in minutes on 2 wasm cores.
  { name: 'gpt2', cfg: PRESETS.gpt2, batch: 1, seqLen: 64 },
  // The offline default: 3×48, full vocabulary; the LM head dwarfs the blocks.
  { name: 'nano', cfg: PRESETS.nano, batch: 8, seqLen: 128 },
  // In between (8×256): the blocks are no longer negligible, the head still leads.
  { name: 'mini', cfg: PRESETS.mini, batch: 4, seqLen: 128 },
  // The paper's shape: GPT-2 S, batch 8 × 128 tokens, the first half of each sequence prompt.
  { name: 'gpt2-8x128', cfg: PRESETS.gpt2, batch: 8, seqLen: 128, promptFraction: 0.5 },
  // A GPT-2 M server at cut 6 (18 blocks and the tied head): does it fit wasm's 4 GB?
  { name: 'gpt2-medium-server', cfg: PRESETS['gpt2-medium'], batch: 8, seqLen: 128, promptFraction: 0.5, serverCut: 6, optIn: true },
];

/** The plain matmul the backend's FLOP rate is measured on: [m, k] · [k, n]. */
export const MATMUL = [512, 768, 3072] as const;

export interface BenchResult {
  name: string;
  layers: number;
  embd: number;
  heads: number;
  vocab: number;
  batch: number;
  seqLen: number;
  /** Rows the loss covers (B·T less the prompt positions); the head runs on these only. */
  lossRows: number;
  /** 'full' (FullModel) or 'server@k' (ServerModel from cut k). */
  part: string;
  transposedCopies: boolean;
  /** Whether matmuls got fresh weight copies, so XNNPACK's packed copies did not persist. */
  transientPacks: boolean;
  /** Median milliseconds of one step (forward, backward, AdamW on the LoRA weights). */
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
  /** tf.memory().numBytes of the frozen weights this part uses. */
  weightBytes: number;
  /** Bytes of the transposed copies made of them (0 without copies). */
  copyBytes: number;
  /** Peak tf.memory().numBytes during one step (tf.profile), weights and copies included. */
  peakBytes: number;
  /** The wasm heap after the step (it only grows; includes XNNPACK's packed weights), or null off wasm. */
  wasmHeapBytes: number | null;
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

/** Deterministic token batch [B, T]; the first promptFraction of each sequence has mask 0. */
export function benchBatch(cfg: GPT2Config, B: number, T: number, promptFraction = 0): TokenBatch {
  const N = B * T;
  const ids = Int32Array.from({ length: N }, (_, j) => (j * 7919 + 13) % cfg.vocabSize);
  const targets = Int32Array.from({ length: N }, (_, j) => ((j + 1) * 7919 + 13) % cfg.vocabSize);
  const prompt = Math.floor(T * promptFraction);
  const mask = Float32Array.from({ length: N }, (_, j) => (j % T >= prompt ? 1 : 0));
  return { ids, targets, mask, batch: B, seqLen: T };
}

/** The frozen weights a part uses: the server part skips wpe and the client's blocks. */
function partWeights(cfg: GPT2Config, cut: number | undefined): Weights {
  const all = initGpt2Weights(cfg, 0);
  if (cut === undefined) return toWeights(all);
  const keep = Object.entries(all).filter(([k]) => {
    const m = /^h\.(\d+)\./.exec(k);
    return m ? Number(m[1]) >= cut : k !== 'wpe.weight';
  });
  return toWeights(Object.fromEntries(keep));
}

const wasmHeapBytes = (): number | null => {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return tf.getBackend() === 'wasm' && wasm?.HEAPU8 ? wasm.HEAPU8.length : null;
};

export interface BenchRunOptions {
  /** The models' transposedCopies setting (default 'auto'). */
  transposedCopies?: boolean | 'auto';
  /** Progress notes (default: stderr). */
  log?: (message: string) => void;
}

export async function benchConfig(c: BenchConfig, warmup: number, steps: number, matmulRate: number, run: BenchRunOptions = {}): Promise<BenchResult> {
  const { cfg, batch: B, seqLen: T } = c;
  const log = run.log ?? ((m: string) => process.stderr.write(m + '\n'));
  if (T > cfg.nPositions) throw new Error(`bench ${c.name}: seqLen ${T} exceeds n_positions ${cfg.nPositions}`);
  const N = B * T;
  const t0 = performance.now();
  const weights: Weights = partWeights(cfg, c.serverCut);
  const weightBytes = tf.memory().numBytes;
  log(`bench ${c.name}: ${cfg.nLayer}×${cfg.nEmbd}, vocab ${cfg.vocabSize}, batch ${B}×${T}; weights ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const lora = { ...DEFAULT_LORA };
  const modelOpts = { lora, optimizer: { lr: 2e-4, ...SPLITLORA_ADAMW }, seed: 0, transposedCopies: run.transposedCopies ?? 'auto' };
  const b = benchBatch(cfg, B, T, c.promptFraction);
  const rowWeights = maskWeights(b.mask);
  const rows = activeRows(rowWeights);
  const server = c.serverCut !== undefined ? new ServerModel(cfg, weights, c.serverCut, modelOpts) : null;
  const full = server ? null : new FullModel(cfg, weights, modelOpts);
  const model = (server ?? full)!;
  const acts = server ? tf.randomNormal([B, T, cfg.nEmbd], 0, 1, 'float32', 1) : null;
  let seed = 0;
  const step = async () => {
    if (full) await full.step(b, { smoothing: 0.1, dropoutSeed: seed++ });
    else tf.dispose((await server!.step(acts!, b.targets, rowWeights, { smoothing: 0.1, dropoutSeed: seed++ })).gradActs);
  };
  // The head alone on the masked rows: hidden states [N, d] → rows → ln_f → logits → smoothed CE, and back to [N, d].
  const h = tf.randomNormal([N, cfg.nEmbd]);
  const index = tf.tensor1d(rows, 'int32');
  const targets = tf.tensor1d(Int32Array.from(rows, (j) => b.targets[j]), 'int32');
  const w = tf.tensor1d(Float32Array.from(rows, (j) => rowWeights[j]));
  const copies = model.transposedCopies;
  const headGrad = tf.grads((x: tf.Tensor) => tiedHeadLoss(finalNorm(cfg, weights, gatherRows(x as tf.Tensor2D, index)), tiedEmbedding(weights), targets, w, 0.1, { transposedCopies: copies, transientPacks: model.transientPacks }));
  try {
    // The first step, profiled for its peak memory, doubles as a warm-up.
    const profile = await tf.profile(step);
    const peakBytes = profile.peakBytes;
    const [stepMs, forwardMs, headMs] = await timeInterleaved(Math.max(0, warmup - 1), steps, [
      step,
      async () => {
        if (full) await full.nll(b);
        else await server!.nll(acts!, b.targets, b.mask);
      },
      async () => {
        const [g] = headGrad([h]);
        await g.data();
        g.dispose();
      },
    ]);
    const copyBytes = transposedBytes(weights);
    log(`bench ${c.name}: step ${stepMs.toFixed(0)} ms, forward ${forwardMs.toFixed(0)} ms, head+loss ${headMs.toFixed(0)} ms; transposed copies ${copies ? 'on' : 'off'}, peak ${(peakBytes / 2 ** 20).toFixed(0)} MiB`);
    const blocks = cfg.nLayer - (c.serverCut ?? 0);
    const flops = trainStepFlops({ ...cfg, nLayer: blocks }, lora, B, T, rows.length);
    const achievedGflops = flops.total / stepMs / 1e6;
    return {
      name: c.name, layers: blocks, embd: cfg.nEmbd, heads: cfg.nHead, vocab: cfg.vocabSize, batch: B, seqLen: T, lossRows: rows.length,
      part: c.serverCut !== undefined ? `server@${c.serverCut}` : 'full', transposedCopies: copies, transientPacks: model.transientPacks,
      stepMs, tokensPerSec: N / (stepMs / 1000), msPerToken: stepMs / N, forwardMs, headMs,
      headTimeShare: headMs / stepMs, stepGflop: flops.total / 1e9, headFlopShare: flops.head / flops.total,
      achievedGflops, matmulRatio: achievedGflops / matmulRate,
      weightBytes, copyBytes, peakBytes, wasmHeapBytes: wasmHeapBytes(),
    };
  } finally {
    tf.dispose([h, index, targets, w]);
    if (acts) acts.dispose();
    model.dispose();
    disposeWeights(weights);
  }
}

const f = (x: number, digits: number) => x.toFixed(digits);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

const mib = (x: number | null) => (x === null ? '-' : (x / 2 ** 20).toFixed(0));

export function benchTables(results: BenchResult[], matmulRate: number): string {
  const speed = formatTable(
    ['config', 'part', 'layers×d', 'B×T', 'loss rows', 'tokens/s', 'ms/token', 'GFLOP/step', 'GFLOP/s', 'matmul GFLOP/s', 'ratio'],
    results.map((r) => [r.name, r.part, `${r.layers}×${r.embd}`, `${r.batch}×${r.seqLen}`, String(r.lossRows), f(r.tokensPerSec, 1), f(r.msPerToken, 2), f(r.stepGflop, 2), f(r.achievedGflops, 2), f(matmulRate, 2), f(r.matmulRatio, 2)]),
  );
  const where = formatTable(
    ['config', 'step ms', 'forward ms', 'head+loss fwd+bwd ms', 'head share of time', 'head share of FLOPs', 'rest ms (blocks, AdamW)'],
    results.map((r) => [r.name, f(r.stepMs, 0), f(r.forwardMs, 0), f(r.headMs, 0), pct(r.headTimeShare), pct(r.headFlopShare), f(Math.max(0, r.stepMs - r.headMs), 0)]),
  );
  const memory = formatTable(
    ['config', 'transposed copies', 'transient packs', 'weights MiB', 'copies MiB', 'peak tensors MiB', 'wasm heap MiB'],
    results.map((r) => [r.name, r.transposedCopies ? 'on' : 'off', r.transientPacks ? 'on' : 'off', mib(r.weightBytes), mib(r.copyBytes), mib(r.peakBytes), mib(r.wasmHeapBytes)]),
  );
  return `${speed}\n\n${where}\n\n${memory}`;
}

export interface BenchModelOptions {
  /** The active tfjs backend's name (the caller selects it). */
  backend: string;
  configs: BenchConfig[];
  steps: number;
  warmup: number;
  transposedCopies: 'auto' | 'on' | 'off';
}

export interface BenchModelReport {
  backend: string;
  matmulGflops: number;
  steps: number;
  warmup: number;
  transposedCopies: 'auto' | 'on' | 'off';
  configs: BenchResult[];
}

export const benchModel: Experiment<BenchModelOptions, BenchModelReport> = {
  name: 'bench-model',
  description: 'LoRA training throughput (forward, backward, AdamW) for gpt2-, nano- and mini-sized models on the tfjs backend, with a time breakdown',
  defaults: { steps: 3, warmup: 1, transposedCopies: 'auto', configs: BENCH_CONFIGS.filter((c) => !c.optIn) },
  async run(o, { log }) {
    if (o.backend === 'cpu' && o.configs.some((c) => c.name.startsWith('gpt2'))) log('bench: warning: the cpu backend runs at ≈1 GFLOP/s; the gpt2 config takes minutes per step (try --backend wasm or --only nano,mini)');
    const matmulRate = await matmulGflops();
    log(`bench: plain matmul ${MATMUL[0]}×${MATMUL[1]} · ${MATMUL[1]}×${MATMUL[2]}: ${matmulRate.toFixed(2)} GFLOP/s`);
    const results: BenchResult[] = [];
    const transposedCopies = o.transposedCopies === 'auto' ? 'auto' : o.transposedCopies === 'on';
    for (const c of o.configs) results.push(await benchConfig(c, o.warmup, o.steps, matmulRate, { transposedCopies, log }));
    return { backend: o.backend, matmulGflops: matmulRate, steps: o.steps, warmup: o.warmup, transposedCopies: o.transposedCopies, configs: results };
  },
  async report(r) {
    const text = `backend ${r.backend}; LoRA r=${DEFAULT_LORA.r} on ${DEFAULT_LORA.targets.join(',')}, label smoothing 0.1; the loss covers 'loss rows' of B·T (the rest is prompt)\n\n${benchTables(r.configs, r.matmulGflops)}\n`;
    return { json: r, text, files: [] };
  },
};
