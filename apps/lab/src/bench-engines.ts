// bench-engines: the server step on each compute engine, side by side in one run. The GPT-2 S
// (or --preset) server part at a quarter cut, B×T = 8×128 with a half-prompt mask, 1/4/8 batched
// clients: tfjs-wasm in its worker thread, the torch engine through its pipes on 1 thread and on
// every core, and, from the same run, the torch engine's math in-process and a plain PyTorch loop
// of the same step (splitlora_torch.bench) as the reference, also for the whole model (cut 0).
// Random weights: speed does not depend on their values. A benchmark, not a test.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { PYTHON_DIR, probeTorch } from '@splitlora/engine-torch';
import { PRESETS, initGpt2Weights, type GPT2Config, type TensorRecord } from '@splitlora/model';
import { ComputeWorker, TorchCompute, WorkerServerCompute, sharedRecord, type ComputeService, type ServerPartSpec, type StepRequest } from '@splitlora/server';
import { trainStepFlops } from './cost-model';
import type { Experiment } from './experiment';
import { formatTable } from './table';

export const ENGINE_PRESETS = ['gpt2', 'gpt2-medium', 'nano', 'micro', 'mini'] as const;

export interface BenchEnginesOptions {
  /** Model shape (random weights). */
  preset: (typeof ENGINE_PRESETS)[number];
  /** Batched clients per server step; the torch engine on 1 thread and tfjs-wasm may take other lists. */
  clients: number[];
  oneThreadClients?: number[];
  tfjsClients: number[];
  batch: number;
  seqLen: number;
  /** Timed steps per setup, after one warm-up step. */
  steps: number;
  /** "Every core" for the torch runs (default: all of this machine's). */
  threads?: number;
  python?: string;
  skipTfjs?: boolean;
  skipPlain?: boolean;
  skipWhole?: boolean;
}

interface Row { engine: string; shape: string; clients: number; stepMs: number; tokensPerSec: number; gflops: number; overheadMs: number | null }

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** n clients of B×T random activations, random targets, the loss on the second half of each row. */
function group(cfg: GPT2Config, n: number, B: number, T: number, step: number): StepRequest[] {
  return Array.from({ length: n }, (_, c) => ({
    clientId: `c${c}`,
    acts: { shape: [B, T, cfg.nEmbd], data: Float32Array.from({ length: B * T * cfg.nEmbd }, (_, j) => Math.sin(j * 0.37 + c + step)) },
    targets: Int32Array.from({ length: B * T }, (_, j) => (j * 7919 + c) % cfg.vocabSize),
    mask: Float32Array.from({ length: B * T }, (_, j) => (j % T >= T / 2 ? 1 : 0)),
  }));
}

/** Median wall time of a step as the server sees it, and the median share spent outside the engine's own compute (transport, packing). */
async function timeSteps(service: ComputeService, spec: ServerPartSpec, n: number, B: number, T: number, steps: number, label: string, log: (m: string) => void): Promise<{ ms: number; overheadMs: number }> {
  const part = await WorkerServerCompute.open(service, `bench-${n}`, spec);
  const times: number[] = [];
  const overheads: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const g = group(spec.config, n, B, T, s); // fresh: a worker thread takes the buffers it is sent
    const t0 = performance.now();
    const { busyMs } = await part.step(g);
    const ms = performance.now() - t0;
    if (s > 0) { // step 0 warms up (allocations, first-use packing)
      times.push(ms);
      overheads.push(ms - busyMs);
    }
    log(`  ${label} ×${n}: step ${s}/${steps} ${(ms / 1000).toFixed(2)} s (engine busy ${(busyMs / 1000).toFixed(2)} s)${s === 0 ? ' (warm-up)' : ''}`);
  }
  await part.dispose();
  return { ms: median(times), overheadMs: median(overheads) };
}

function pythonBench(python: string, args: string[], log: (m: string) => void): Promise<{ setups: Record<string, number | string | null>[]; device: string; torch: string; threads: number }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PYTHONPATH: [PYTHON_DIR, process.env.PYTHONPATH].filter(Boolean).join(':') };
    const child = execFile(python, ['-m', 'splitlora_torch.bench', ...args], { env, maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`splitlora_torch.bench failed: ${err.message}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
    child.stdout?.on('data', (d: Buffer) => { for (const line of String(d).split('\n')) if (line && !line.startsWith('{')) log(`  plain/engine in-process: ${line}`); });
  });
}

export interface BenchEnginesResult {
  preset: string;
  cut: number;
  batch: number;
  seqLen: number;
  cores: number;
  threads: number;
  torch: string | null;
  rows: Row[];
  ratios: { clients: number; torchEngineOverPlain: number | null; tfjsOverTorchEngine: number | null; oneThreadOverAll: number | null }[];
}

export const benchEngines: Experiment<BenchEnginesOptions, BenchEnginesResult> = {
  name: 'bench-engines',
  description: 'server step speed per compute engine, side by side: tfjs-wasm, torch on 1 thread and every core, and a plain PyTorch loop as the reference',
  defaults: { preset: 'gpt2', clients: [1, 4, 8], tfjsClients: [1], batch: 8, seqLen: 128, steps: 3 },
  async run(o, { log }) {
    const probe = await probeTorch({ python: o.python, device: 'cpu' });
    if (probe.problem) throw new Error(probe.problem);
    const cfg = PRESETS[o.preset] as GPT2Config;
    const cut = Math.max(1, Math.floor(cfg.nLayer / 4));
    const all = o.threads ?? availableParallelism();
    const B = o.batch, T = o.seqLen;
    log(`bench-engines: ${o.preset} (${cfg.nLayer} × d=${cfg.nEmbd}), server part at cut ${cut} (${cfg.nLayer - cut} blocks + head), ${B}×${T} per client, half-prompt mask; torch ${probe.torch} (${probe.python}); ${availableParallelism()} cores`);
    let t = performance.now();
    const weights: TensorRecord = sharedRecord(initGpt2Weights(cfg, 1));
    log(`  random weights in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const spec: ServerPartSpec = { config: cfg, cut, lora: { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] }, seed: 1, lr: 2e-4, schedule: { kind: 'linear', warmup: 500, total: 10_000 }, smoothing: 0.1 };
    const flops = (n: number, blocks: number) => trainStepFlops({ ...cfg, nLayer: blocks }, spec.lora, n * B, T, n * B * (T - T / 2)).total;
    const rows: Row[] = [];
    const add = (engine: string, shape: string, n: number, ms: number, blocks: number, overheadMs: number | null = null) => rows.push({ engine, shape, clients: n, stepMs: ms, overheadMs, tokensPerSec: (n * B * T) / (ms / 1000), gflops: flops(n, blocks) / (ms / 1000) / 1e9 });
    const serverShape = `server part (cut ${cut})`;

    const torchRuns: [string, number, number[]][] = [['torch-cpu 1 thread', 1, o.oneThreadClients ?? o.clients], [`torch-cpu ${all} threads`, all, o.clients]];
    for (const [label, threads, clients] of torchRuns) {
      const engine = new TorchCompute({ python: probe.python, device: 'cpu', threads, config: cfg, weights });
      await engine.start();
      for (const n of clients) {
        const r = await timeSteps(engine, spec, n, B, T, o.steps, label, log);
        add(label, serverShape, n, r.ms, cfg.nLayer - cut, r.overheadMs);
      }
      await engine.close();
    }
    if (!o.skipTfjs) {
      const worker = new ComputeWorker({ role: 'train', backend: 'wasm', config: cfg, weights });
      await worker.start();
      for (const n of o.tfjsClients) {
        const r = await timeSteps(worker, spec, n, B, T, o.steps, 'tfjs-wasm', log);
        add('tfjs-wasm (1 worker)', serverShape, n, r.ms, cfg.nLayer - cut, r.overheadMs);
      }
      await worker.close();
    }
    let plain: Awaited<ReturnType<typeof pythonBench>> | null = null;
    if (!o.skipPlain) {
      plain = await pythonBench(probe.python, ['--device', 'cpu', '--threads', String(all), '--presets', o.preset, '--clients', o.clients.join(','), '--batch', String(B), '--seq-len', String(T), '--steps', String(o.steps), '--warmup', '1', ...(o.skipWhole ? [] : ['--whole'])], log);
      for (const s of plain.setups) {
        const shape = s.cut === 0 ? 'whole model' : serverShape;
        add(`torch math in-process ${all} threads`, shape, s.clients as number, s.engineStepMs as number, s.blocks as number);
        add(`plain PyTorch loop ${all} threads`, shape, s.clients as number, s.plainStepMs as number, s.blocks as number);
      }
    }

    const find = (engine: string, shape: string, n: number) => rows.find((r) => r.engine === engine && r.shape === shape && r.clients === n);
    const ratios = o.clients.map((n) => {
      const torchAll = find(`torch-cpu ${all} threads`, serverShape, n);
      const plainS = find(`plain PyTorch loop ${all} threads`, serverShape, n);
      const tfjs = find('tfjs-wasm (1 worker)', serverShape, n);
      return {
        clients: n,
        torchEngineOverPlain: torchAll && plainS ? torchAll.stepMs / plainS.stepMs : null,
        tfjsOverTorchEngine: tfjs && torchAll ? tfjs.stepMs / torchAll.stepMs : null,
        oneThreadOverAll: torchAll && find('torch-cpu 1 thread', serverShape, n) ? find('torch-cpu 1 thread', serverShape, n)!.stepMs / torchAll.stepMs : null,
      };
    });
    return { preset: o.preset, cut, batch: B, seqLen: T, cores: availableParallelism(), threads: all, torch: probe.torch, rows, ratios };
  },
  /** The text: the rows and the ratios, as two tables. */
  async report(r) {
    const { rows, ratios } = r;
    const text = '\n' + formatTable(['engine', 'shape', 'clients', 's/step', 'tokens/s', 'GFLOP/s', 'outside compute ms'], rows.map((r) => [r.engine, r.shape, r.clients, (r.stepMs / 1000).toFixed(2), r.tokensPerSec.toFixed(0), r.gflops.toFixed(1), r.overheadMs === null ? '–' : r.overheadMs.toFixed(0)])) + '\n\n'
      + formatTable(['clients', 'torch engine / plain loop', 'tfjs-wasm / torch engine', 'torch 1 thread / all'], ratios.map((r) => [r.clients, r.torchEngineOverPlain?.toFixed(2) ?? '–', r.tfjsOverTorchEngine?.toFixed(1) ?? '–', r.oneThreadOverAll?.toFixed(2) ?? '–'])) + '\n';
    return { json: r, text, files: [] };
  },
};
