// bench-gpu: the GPU check. It runs bench-model's gpt2 8×128 training step and bench-split's gpt2 split
// step and server throughput (1, 4 and 8 clients) on webgpu, and on tensorflow-gpu when it is installed.
// Each case runs in its own child process with a share of the time budget and is killed when it
// overruns, so a slow, hung or crashed adapter costs one case, never the whole run or its report.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { NODE_BACKENDS, selectNodeBackend } from '@splitlora/backend/node';
import { PRESETS, disposeWeights, initGpt2Weights, toWeights, type GPT2Config } from '@splitlora/model';
import { loopback, throughput, timeSplit, type Spec } from './bench-split';
import { benchConfig, matmulGflops, type BenchConfig } from './bench-model';
import { matmulFlops } from './cost-model';
import type { Experiment } from './experiment';
import { formatTable } from './table';

/** The cases, in run order; `weight` is each one's share of the time budget. */
export const GPU_CASES = [
  { name: 'model', weight: 3, what: 'bench-model training step (forward, backward, AdamW), half-prompt mask' },
  { name: 'split', weight: 3, what: 'bench-split split step by part (default cut, wire f32, socket.io loopback)' },
  { name: 'throughput-1', weight: 2, what: 'ServerEngine throughput, 1 client' },
  { name: 'throughput-4', weight: 2, what: 'ServerEngine throughput, 4 concurrent clients' },
  { name: 'throughput-8', weight: 3, what: 'ServerEngine throughput, 8 concurrent clients' },
] as const;
export type GpuCaseName = (typeof GPU_CASES)[number]['name'];

/** --quick: GPT-2's vocabulary (the split cases use real BPE ids) on a 2×16 body, so SwiftShader finishes in minutes. */
export const QUICK_CONFIG: GPT2Config = { ...PRESETS.gpt2, nPositions: 64, nEmbd: 16, nLayer: 2, nHead: 2 };

export const DEFAULT_BUDGET_S = 450;
/** A case is not started with less time than this left. */
const MIN_CASE_S = 10;

interface Shapes {
  model: BenchConfig;
  split: Spec;
  /** One client's request in the throughput cases. */
  client: Spec;
  steps: number;
  rounds: number;
  largeMatmul: { n: number; chain: number };
}

function shapes(quick: boolean): Shapes {
  if (quick) {
    return {
      model: { name: 'quick-2x16', cfg: QUICK_CONFIG, batch: 2, seqLen: 16, promptFraction: 0.5 },
      split: { name: 'quick', cfg: QUICK_CONFIG, batch: 1, seqLen: 16 },
      client: { name: 'quick', cfg: QUICK_CONFIG, batch: 1, seqLen: 16 },
      steps: 1,
      rounds: 1,
      largeMatmul: { n: 256, chain: 2 },
    };
  }
  return {
    model: { name: 'gpt2-8x128', cfg: PRESETS.gpt2, batch: 8, seqLen: 128, promptFraction: 0.5 },
    split: { name: 'gpt2', cfg: PRESETS.gpt2, batch: 8, seqLen: 128 },
    client: { name: 'gpt2', cfg: PRESETS.gpt2, batch: 8, seqLen: 128 },
    steps: 3,
    rounds: 3,
    largeMatmul: { n: 2048, chain: 8 },
  };
}

// ---- one case, inside the child process ----------------------------------------------------

export interface AdapterReport {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  /** The limits tfjs's device was created with (the adapter's maxima, as tfjs requests them). */
  limits?: Record<string, number>;
}

interface GpuInfoLike { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }
interface NavigatorGpuLike { requestAdapter(o?: object): Promise<{ info?: GpuInfoLike; isFallbackAdapter?: boolean } | null> }

/** What Dawn says about the adapter tfjs uses: a fresh high-performance adapter, as tfjs asks for. */
async function webgpuAdapterReport(): Promise<AdapterReport | null> {
  const gpu = (globalThis as { navigator?: { gpu?: NavigatorGpuLike } }).navigator?.gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  // Dawn's info fields are prototype getters: copy them one by one.
  const i = adapter.info ?? {};
  const report: AdapterReport = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? adapter.isFallbackAdapter };
  const limits = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device?.limits;
  if (limits) {
    report.limits = {};
    for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension']) {
      if (typeof limits[k] === 'number') report.limits[k] = limits[k];
    }
  }
  return report;
}

/**
 * GFLOP/s of `chain` n×n·n×n matmuls queued before one read-back: a GPU's rate without the
 * read-back latency that dominates bench-model's single 512×768·768×3072 product there.
 */
async function chainedMatmulGflops(n: number, chain: number): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const once = async () => {
    const cs = Array.from({ length: chain }, () => tf.matMul(a, b));
    await cs[chain - 1].data(); // one queue: the last result implies the others
    tf.dispose(cs);
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  tf.dispose([a, b]);
  const ms = times.sort((x, y) => x - y)[1];
  return (chain * matmulFlops(n, n, n)) / ms / 1e6;
}

function gpt2Weights(cfg: GPT2Config, log: (s: string) => void) {
  const t0 = performance.now();
  const w = toWeights(initGpt2Weights(cfg, 0));
  log(`bench-gpu: random weights ${cfgText(cfg)} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return w;
}

/** Runs one case on the already active backend; returns its JSON-able result. */
export async function runGpuCase(name: GpuCaseName, quick: boolean, log: (s: string) => void): Promise<Record<string, unknown>> {
  const s = shapes(quick);
  if (name === 'model') {
    // bench-model's plain matmul (512×768·768×3072) takes over a minute on SwiftShader: --quick uses a 256³ one.
    const matmul = quick ? await chainedMatmulGflops(256, 1) : await matmulGflops();
    const matmulShape = quick ? '256×256·256×256' : '512×768·768×3072';
    const chained = await chainedMatmulGflops(s.largeMatmul.n, s.largeMatmul.chain);
    log(`bench-gpu: plain matmul ${matmulShape} ${matmul.toFixed(1)} GFLOP/s; ${s.largeMatmul.chain} chained ${s.largeMatmul.n}³ matmuls ${chained.toFixed(1)} GFLOP/s`);
    const r = await benchConfig(s.model, 1, s.steps, matmul);
    return {
      ...r, matmulGflops: matmul, matmulShape,
      chainedMatmul: { n: s.largeMatmul.n, chain: s.largeMatmul.chain, gflops: chained },
      chainedMatmulRatio: r.achievedGflops / chained,
    };
  }
  if (name === 'split') {
    const weights = gpt2Weights(s.split.cfg, log);
    const lb = await loopback();
    try {
      return { ...(await timeSplit(s.split, weights, lb, 'f32', 1, s.steps)) };
    } finally {
      await lb.close();
      disposeWeights(weights);
    }
  }
  const clients = Number(name.slice('throughput-'.length));
  const weights = gpt2Weights(s.client.cfg, log);
  try {
    const rows = await throughput(s.client, weights, [clients], s.rounds, log);
    return { clients, rounds: s.rounds, rows };
  } finally {
    disposeWeights(weights);
  }
}

/** The child's whole job: activate the backend, run one case, print one JSON line. Never throws. */
export async function runGpuCaseChild(name: string, backend: string, quick: boolean, log: (s: string) => void): Promise<Record<string, unknown>> {
  if (!GPU_CASES.some((c) => c.name === name)) return { ok: false, stage: 'case', error: `unknown case "${name}"; choose from ${GPU_CASES.map((c) => c.name).join(', ')}` };
  const t0 = performance.now();
  let active: string;
  try {
    active = await selectNodeBackend(backend, log);
  } catch (e) {
    return { ok: false, stage: 'backend', error: (e as Error).message };
  }
  const adapter = active === 'webgpu' ? await webgpuAdapterReport().catch(() => null) : null;
  try {
    const result = await runGpuCase(name as GpuCaseName, quick, log);
    return { ok: true, backend: active, adapter, seconds: (performance.now() - t0) / 1000, tensorsAlive: tf.memory().numTensors, result };
  } catch (e) {
    const err = e as Error;
    return { ok: false, stage: 'run', backend: active, adapter, error: err.message, stack: err.stack?.split('\n').slice(0, 8).join('\n') };
  }
}

// ---- the parent: budget, children, report --------------------------------------------------

export interface GpuBenchOptions {
  backends: string[];
  quick: boolean;
  /** Seconds for all cases of all backends together. */
  budgetS: number;
  /** How to start this program again as a child: args after the node binary, before the child's own options. */
  childPrefix: string[];
  /** Node flags for the children (default: this process's). */
  execArgv?: string[];
  /** Subset of GPU_CASES names (default: all). */
  cases?: string[];
  log: (s: string) => void;
}

export interface CaseReport {
  case: string;
  status: 'ok' | 'error' | 'timeout' | 'skipped';
  budgetSeconds: number;
  seconds: number;
  reason?: string;
  result?: Record<string, unknown>;
}

export interface BackendReport {
  backend: string;
  available: boolean;
  reason?: string;
  adapter?: AdapterReport | null;
  cases: CaseReport[];
}

interface ChildOutcome { status: 'ok' | 'error' | 'timeout'; seconds: number; json: Record<string, unknown> | null; stderrTail: string; exit: string }

function runChild(args: string[], execArgv: string[], budgetS: number, prefix: string, log: (s: string) => void): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...execArgv, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let stdout = '';
    const tail: string[] = [];
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (pending + d).split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) {
        log(`${prefix} ${l}`);
        tail.push(l);
        if (tail.length > 20) tail.shift();
      }
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, budgetS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pending) tail.push(pending);
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: Record<string, unknown> | null = null;
      try {
        json = last ? (JSON.parse(last) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      const seconds = (performance.now() - t0) / 1000;
      const exit = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve({ status: timedOut ? 'timeout' : json?.ok === true ? 'ok' : 'error', seconds, json, stderrTail: tail.join('\n'), exit });
    });
  });
}

/** Why a backend cannot be measured without starting a child, or null to try it. */
function quickSkipReason(backend: string): string | null {
  if (backend !== 'tensorflow-gpu') return null;
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
    return null;
  } catch {
    return '@tensorflow/tfjs-node-gpu is not installed (install @tensorflow/tfjs-node-gpu 4.22.0 next to the project; it needs CUDA 11.2 and cuDNN 8.1)';
  }
}

export async function runGpuBench(o: GpuBenchOptions): Promise<Record<string, unknown>> {
  for (const b of o.backends) {
    if (!(NODE_BACKENDS as readonly string[]).includes(b)) throw new Error(`bench-gpu: unknown backend "${b}"; choose from ${NODE_BACKENDS.join(', ')}`);
  }
  const cases = GPU_CASES.filter((c) => !o.cases || o.cases.includes(c.name));
  const unknown = (o.cases ?? []).filter((n) => !GPU_CASES.some((c) => c.name === n));
  if (unknown.length > 0) throw new Error(`bench-gpu: unknown case ${unknown.join(', ')}; choose from ${GPU_CASES.map((c) => c.name).join(', ')}`);
  const tStart = performance.now();
  const deadline = tStart + o.budgetS * 1000;
  const reports: BackendReport[] = o.backends.map((backend) => {
    const reason = quickSkipReason(backend);
    return { backend, available: reason === null, ...(reason ? { reason } : {}), cases: [] };
  });
  for (const r of reports.filter((x) => !x.available)) o.log(`bench-gpu: ${r.backend} skipped: ${r.reason}`);
  // Every case of every backend still to run, with its weight: each gets its share of what is left.
  const queue = reports.filter((r) => r.available).flatMap((r) => cases.map((c) => ({ report: r, c })));
  let weightLeft = queue.reduce((s, q) => s + q.c.weight, 0);
  for (const { report, c } of queue) {
    const leftS = (deadline - performance.now()) / 1000;
    const budgetS = Math.floor((leftS * c.weight) / weightLeft);
    weightLeft -= c.weight;
    if (!report.available) {
      report.cases.push({ case: c.name, status: 'skipped', budgetSeconds: 0, seconds: 0, reason: `backend unavailable: ${report.reason}` });
      continue;
    }
    if (budgetS < MIN_CASE_S) {
      report.cases.push({ case: c.name, status: 'skipped', budgetSeconds: budgetS, seconds: 0, reason: `only ${budgetS} s of the ${o.budgetS} s budget left` });
      continue;
    }
    o.log(`bench-gpu: ${report.backend} ${c.name} (${c.what}; ${caseShape(c.name, o.quick)}), budget ${budgetS} s`);
    const args = [...o.childPrefix, '--case', c.name, '--backends', report.backend, ...(o.quick ? ['--quick'] : [])];
    const out = await runChild(args, o.execArgv ?? process.execArgv, budgetS, `  [${report.backend} ${c.name}]`, o.log);
    const j = out.json;
    if (j && j.adapter && report.adapter === undefined) report.adapter = j.adapter as AdapterReport;
    if (j?.ok === false && j.stage === 'backend') {
      report.available = false;
      report.reason = String(j.error);
      report.cases.push({ case: c.name, status: 'skipped', budgetSeconds: budgetS, seconds: out.seconds, reason: String(j.error) });
      o.log(`bench-gpu: ${report.backend} is not available: ${j.error}`);
      continue;
    }
    const lastLine = out.stderrTail.split('\n').filter((l) => l.trim()).pop();
    const reason = out.status === 'timeout'
      ? `killed after its ${budgetS} s budget${lastLine ? `; its last log line: ${lastLine.trim()}` : ''}`
      : out.status === 'error'
        ? (j?.error ? `${j.error}${j.stack ? `\n${j.stack}` : ''}` : `child ended (${out.exit}) without a result; its last stderr lines:\n${out.stderrTail}`)
        : undefined;
    report.cases.push({
      case: c.name, status: out.status, budgetSeconds: budgetS, seconds: out.seconds,
      ...(reason ? { reason } : {}), ...(out.status === 'ok' ? { result: j!.result as Record<string, unknown> } : {}),
    });
    o.log(`bench-gpu: ${report.backend} ${c.name}: ${out.status} in ${out.seconds.toFixed(1)} s${reason ? ` (${reason.split('\n')[0]})` : ''}`);
  }
  for (const r of reports) if (r.adapter === undefined) r.adapter = null;
  const totalSeconds = (performance.now() - tStart) / 1000;
  o.log(`\n${summaryTable(reports)}\nbench-gpu: done in ${totalSeconds.toFixed(0)} s (budget ${o.budgetS} s)`);
  return {
    bench: 'bench-gpu', quick: o.quick, budgetSeconds: o.budgetS, totalSeconds,
    shapes: describeShapes(o.quick),
    environment: environment(),
    summary: summary(reports),
    backends: reports,
  };
}

const cfgText = (c: GPT2Config) => `${c.nLayer}×${c.nEmbd}, ${c.nHead} heads, vocab ${c.vocabSize}`;

function caseShape(name: GpuCaseName, quick: boolean): string {
  const s = shapes(quick);
  if (name === 'model') return `${cfgText(s.model.cfg)}, ${s.model.batch}×${s.model.seqLen}`;
  if (name === 'split') return `${cfgText(s.split.cfg)}, ${s.split.batch}×≤${s.split.seqLen}`;
  return `${cfgText(s.client.cfg)}, ${s.client.batch}×≤${s.client.seqLen} per client`;
}

function describeShapes(quick: boolean) {
  const s = shapes(quick);
  const cfg = cfgText;
  return {
    model: { config: cfg(s.model.cfg), batch: s.model.batch, seqLen: s.model.seqLen, promptFraction: s.model.promptFraction, timedSteps: s.steps },
    split: { config: cfg(s.split.cfg), batch: s.split.batch, maxSeqLen: s.split.seqLen, timedSteps: s.steps },
    throughput: { config: cfg(s.client.cfg), perClientBatch: s.client.batch, maxSeqLen: s.client.seqLen, rounds: s.rounds },
  };
}

function environment() {
  const vk = Object.fromEntries(['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES', 'NVIDIA_DRIVER_CAPABILITIES'].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));
  return { node: process.version, nodePath: process.execPath, platform: process.platform, arch: process.arch, cpu: cpus()[0]?.model ?? 'unknown', cpuCount: cpus().length, memoryBytes: totalmem(), vulkanEnv: vk };
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** The headline numbers per backend (null where a case did not finish). */
function summary(reports: BackendReport[]) {
  return Object.fromEntries(reports.map((r) => {
    const get = (name: string) => r.cases.find((c) => c.case === name && c.status === 'ok')?.result;
    const m = get('model');
    const sp = get('split');
    const thr = (n: number) => {
      const rows = (get(`throughput-${n}`)?.rows ?? []) as { batching: boolean; tokensPerSec: number }[];
      return { batched: num(rows.find((x) => x.batching)?.tokensPerSec), oneAtATime: num(rows.find((x) => !x.batching)?.tokensPerSec) };
    };
    return [r.backend, {
      available: r.available,
      ...(r.reason ? { reason: r.reason } : {}),
      adapter: r.adapter ? [r.adapter.vendor, r.adapter.architecture, r.adapter.description].filter(Boolean).join(' / ') : null,
      trainTokensPerSec: num(m?.tokensPerSec), trainGflops: num(m?.achievedGflops),
      matmulGflops: num(m?.matmulGflops), matmulRatio: num(m?.matmulRatio),
      chainedMatmulGflops: num((m?.chainedMatmul as { gflops?: number } | undefined)?.gflops), chainedMatmulRatio: num(m?.chainedMatmulRatio),
      splitMs: sp ? { clientForward: num(sp.clientForwardMs), server: num(sp.serverMs), clientBackward: num(sp.clientBackwardMs), transport: num(sp.transportMs), split: num(sp.splitMs), unsplit: num(sp.unsplitMs) } : null,
      serverTokensPerSec: { 1: thr(1), 4: thr(4), 8: thr(8) },
      cases: Object.fromEntries(r.cases.map((c) => [c.case, c.status])),
    }];
  }));
}

function summaryTable(reports: BackendReport[]): string {
  // Three significant digits below 100 (SwiftShader's rates are fractions of a GFLOP/s).
  const f = (x: unknown, d: number) => (typeof x === 'number' && Number.isFinite(x) ? (Math.abs(x) >= 100 || x === 0 ? x.toFixed(d) : x.toPrecision(3)) : '-');
  const rows: (string | number)[][] = [];
  for (const r of reports) {
    for (const c of r.cases) {
      const x = c.result ?? {};
      let headline = c.reason?.split('\n')[0] ?? '';
      if (c.status === 'ok' && c.case === 'model') headline = `${f(x.tokensPerSec, 0)} tokens/s, ${f(x.achievedGflops, 0)} GFLOP/s, ${f(x.matmulRatio, 2)}× plain matmul (${f(x.matmulGflops, 0)}), ${f(x.chainedMatmulRatio, 2)}× chained matmul`;
      if (c.status === 'ok' && c.case === 'split') headline = `client fwd ${f(x.clientForwardMs, 0)} ms, server ${f(x.serverMs, 0)} ms, client bwd ${f(x.clientBackwardMs, 0)} ms, transport ${f(x.transportMs, 0)} ms; split ${f(x.splitMs, 0)} vs unsplit ${f(x.unsplitMs, 0)} ms`;
      if (c.status === 'ok' && c.case.startsWith('throughput')) {
        const rs = (x.rows ?? []) as { batching: boolean; tokensPerSec: number }[];
        headline = `batched ${f(rs.find((y) => y.batching)?.tokensPerSec, 0)} tokens/s, one at a time ${f(rs.find((y) => !y.batching)?.tokensPerSec, 0)} tokens/s`;
      }
      rows.push([r.backend, c.case, c.status, f(c.seconds, 0), c.budgetSeconds, headline]);
    }
    if (r.cases.length === 0) rows.push([r.backend, '-', 'skipped', '-', '-', r.reason ?? '']);
  }
  return formatTable(['backend', 'case', 'status', 's', 'budget s', 'result'], rows);
}

export const benchGpu: Experiment<Omit<GpuBenchOptions, 'log'>, Record<string, unknown>> = {
  name: 'bench-gpu',
  description: 'GPU check: gpt2 training step 8×128, split step by part and server throughput with 1/4/8 clients on webgpu and tensorflow-gpu, each case in a child process with a time budget; prints one JSON',
  defaults: { backends: ['webgpu', 'tensorflow-gpu'], quick: false, budgetS: DEFAULT_BUDGET_S },
  run: (o, { log }) => runGpuBench({ ...o, log }),
  report: async (result) => ({ json: result, files: [] }),
};
