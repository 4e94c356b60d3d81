// `splitlora bench`: CenLoRA, SplitLoRA and FedLoRA on the same data, partition, seeds and
// hyper-parameters; held-out curves, client costs, modelled and measured time, time to a target
// perplexity and the ratios between methods.
import type { ResolvedEngine } from '@splitlora/server';
import type { E2EScores } from '@splitlora/metrics';
import { readFile } from 'node:fs/promises';
import { disposeWeights, toWeights, type Weights } from '@splitlora/model';
import { adapterParams, messageSizes, modelDownloadBytes, peakTrainingBytes, stepFlops } from '../cost-model';
import { startProgress, type Experiment } from '../experiment';
import { runCen } from './cen';
import { e2eMetrics, heldoutCurve, type CurvePoint, type E2EOptions, type HeldoutMemo } from './evaluate';
import { runFed } from './fed';
import { modelledTime, modelledTimeAt, timeToTarget, type LatencyParams, type MethodWork, type ModelledTime } from './latency';
import { jsonByMethod, writeBenchReport, type ReportMeta } from './report';
import { runSplitInProcess } from './split-in-process';
import { METHOD_NAMES, type Method, type MethodRun, type RunHooks, type SimData, type SimModel, type TrainSettings } from './types';

export interface BenchCurvePoint extends CurvePoint {
  modelledSeconds: number;
}

export interface MethodReport {
  method: Method;
  name: string;
  clients: number;
  /** Local steps per client (CenLoRA: its own steps, clients × S). */
  steps: number;
  aggregations: number;
  curve: BenchCurvePoint[];
  finalHeldoutLoss: number;
  finalPerplexity: number;
  bestPerplexity: number;
  /** Final adapter's E2E metrics on the held-out MRs, or null when skipped. */
  e2e: E2EScores | null;
  trainableParams: { client: number; server: number };
  /** FLOPs of one local step on one client (CenLoRA: 0, its clients train nothing). */
  clientFlopsPerStep: number;
  /** FLOPs the server (SplitLoRA) or central machine (CenLoRA) spends per client step. */
  serverFlopsPerStep: number;
  /** Mean per client over the run: on the wire for SplitLoRA; the same protocol's bytes for FedLoRA; the data upload for CenLoRA. */
  bytesPerClient: { up: number; down: number };
  /** One-off model download per client (float32 weights). */
  modelDownloadBytes: number;
  /** Peak tfjs bytes of one training step on a client (CenLoRA: 0; see peakCentralBytes). */
  peakClientBytes: number;
  /** CenLoRA only: the same for its central machine. */
  peakCentralBytes: number | null;
  modelled: ModelledTime;
  modelledSeconds: number;
  wallSeconds: number;
  timeToTarget: { modelledSeconds: number | null; wallSeconds: number | null };
  /** other method → (its modelled time to target) / (this method's): "this many times sooner". */
  speedup: Partial<Record<Method, number | null>>;
  backends: string[];
  meanSeqLen: number;
  /** Where this method's share of the bench's wall time went, in seconds. */
  phaseSeconds: PhaseSeconds;
}

export interface PhaseSeconds {
  /** Training (the method's own wall time, plus start-up and tear-down). */
  train: number;
  /** Held-out loss of every checkpoint (a no-op adapter's is computed once per bench). */
  heldout: number;
  /** Beam-search outputs of the final adapter and their E2E metrics. */
  e2e: number;
  /** The peak-memory measurement of one training step. */
  memory: number;
}

export interface BenchResult {
  settings: TrainSettings;
  latency: LatencyParams;
  targetPerplexity: number;
  targetSource: 'given' | 'default';
  methods: Partial<Record<Method, MethodReport>>;
  /** Training losses per method and client, for the CSV. */
  losses: Partial<Record<Method, number[][]>>;
}

export interface BenchOptions {
  methods: Method[];
  latency: LatencyParams;
  /** Held-out perplexity to reach; default: defaultTarget. */
  targetPerplexity?: number;
  e2e: E2EOptions | null;
  stallMs?: number;
  /** SplitLoRA's server engine (default tfjs). */
  engine?: ResolvedEngine;
  /** Score checkpoints on the first this many held-out examples (default: all). */
  evalLimit?: number;
}

export interface BenchHooks {
  /** A progress bar per phase: returns the per-step hook and a stop function. */
  phase?: (label: string, total: number) => { update: (done: number, loss?: number) => void; stop: () => void };
  log?: (message: string) => void;
}

async function train(method: Method, model: SimModel, weights: Weights, s: TrainSettings, data: SimData, hooks: RunHooks, stallMs?: number, engine?: ResolvedEngine): Promise<MethodRun> {
  if (method === 'cen') return runCen(model, weights, s, data, hooks);
  if (method === 'fed') return runFed(model, weights, s, data, hooks);
  return runSplitInProcess(model, s, data, hooks, { stallMs, engine });
}

function work(method: Method, model: SimModel, s: TrainSettings, T: number): MethodWork {
  const labels = s.labels ?? 'server';
  const f = stepFlops(method, model.config, s.lora, s.cut, s.batch, T, labels);
  const m = messageSizes(method, model.config, s.lora, s.cut, s.batch, Math.max(1, Math.round(T)), s.wire, labels);
  return {
    method, clients: s.clients, steps: s.steps, interval: s.interval, clientStepFlops: f.client, serverStepFlops: f.server,
    stepUpBytes: m.stepUp, stepDownBytes: m.stepDown, aggUpBytes: m.aggUp, aggDownBytes: m.aggDown,
    ...(method === 'split' && labels === 'client' ? { stepRoundTrips: 2 } : {}),
  };
}

/**
 * 80% of the way (in held-out loss) from the shared starting loss to the worst of the methods'
 * best losses: every method reaches it, and none only at its very last checkpoint by definition.
 * When no method improved, the starting perplexity (every time to target is then 0).
 */
export function defaultTarget(reports: readonly { curve: readonly CurvePoint[] }[]): number {
  const start = Math.max(...reports.map((r) => r.curve[0].heldoutLoss));
  const worstBest = Math.max(...reports.map((r) => Math.min(...r.curve.map((p) => p.heldoutLoss))));
  return Math.exp(worstBest < start ? start - 0.8 * (start - worstBest) : start);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runBench(model: SimModel, weights: Weights, s: TrainSettings, data: SimData, o: BenchOptions, hooks: BenchHooks = {}): Promise<BenchResult> {
  const log = hooks.log ?? (() => {});
  const { config } = model;
  const reports: Partial<Record<Method, MethodReport>> = {};
  const losses: Partial<Record<Method, number[][]>> = {};
  let wholeBytes: number | null = null;
  const memo: HeldoutMemo = {};
  const heldout = o.evalLimit ? data.heldout.slice(0, o.evalLimit) : data.heldout;
  const seconds = (t0: number) => (performance.now() - t0) / 1000;
  for (const method of o.methods) {
    const name = METHOD_NAMES[method];
    let t0 = performance.now();
    const bar = hooks.phase?.(`${name} train`, s.clients * s.steps);
    const run = await train(method, model, weights, s, data, { onStep: (d, _t, loss) => bar?.update(d, loss) }, o.stallMs, o.engine).finally(() => bar?.stop());
    const phaseSeconds: PhaseSeconds = { train: seconds(t0), heldout: 0, e2e: 0, memory: 0 };
    const shape = method === 'cen' ? `${run.stepsPerClient} steps on the pooled data` : `${run.clients} clients × ${run.stepsPerClient} steps`;
    log(`${name}: ${shape} in ${run.wallSeconds.toFixed(1)} s, training loss ${mean(run.losses.map((l) => l[0])).toFixed(3)} → ${mean(run.losses.map((l) => l[l.length - 1])).toFixed(3)}`);
    t0 = performance.now();
    const evalBar = hooks.phase?.(`${name} eval`, run.checkpoints.length);
    const points = await heldoutCurve(model, weights, s, heldout, run.checkpoints, (d) => evalBar?.update(d), memo).finally(() => evalBar?.stop());
    phaseSeconds.heldout = seconds(t0);
    log(`${name}: held-out loss of ${run.checkpoints.length} checkpoints × ${heldout.length} examples in ${phaseSeconds.heldout.toFixed(1)} s`);
    let e2e: E2EScores | null = null;
    if (o.e2e) {
      t0 = performance.now();
      const test = o.e2e.test ?? data.heldoutText;
      const mrs = Math.min(o.e2e.mrs, new Set(test.map((e) => e.context)).size);
      const e2eBar = hooks.phase?.(`${name} E2E`, mrs);
      e2e = await e2eMetrics(model, weights, s, run.checkpoints[run.checkpoints.length - 1].adapter, test, { ...o.e2e, onProgress: (d) => e2eBar?.update(d) }).finally(() => e2eBar?.stop());
      phaseSeconds.e2e = seconds(t0);
      log(`${name}: E2E outputs for ${mrs} MRs (beam ${o.e2e.beams}) and their metrics in ${phaseSeconds.e2e.toFixed(1)} s`);
    }
    t0 = performance.now();
    const w = work(method, model, s, run.meanSeqLen);
    const modelled = modelledTime(w, o.latency);
    const curve = points.map((p) => ({ ...p, modelledSeconds: modelledTimeAt(w, modelled, p.globalStep) }));
    const T = Math.max(1, run.maxSeqLen);
    let peakClient = 0;
    let peakCentral: number | null = null;
    if (method === 'split') peakClient = await peakTrainingBytes('client-part', model, s, T);
    else {
      wholeBytes ??= await peakTrainingBytes('whole', model, s, T);
      if (method === 'fed') peakClient = wholeBytes;
      else peakCentral = wholeBytes;
    }
    phaseSeconds.memory = seconds(t0);
    const L = config.nLayer;
    const trainable = method === 'split'
      ? { client: adapterParams(config, s.lora, 0, s.cut), server: adapterParams(config, s.lora, s.cut, L) }
      : method === 'fed' ? { client: adapterParams(config, s.lora, 0, L), server: 0 } : { client: 0, server: adapterParams(config, s.lora, 0, L) };
    const last = curve[curve.length - 1];
    reports[method] = {
      method, name, clients: run.clients, steps: run.stepsPerClient, aggregations: run.aggregations, curve,
      finalHeldoutLoss: last.heldoutLoss, finalPerplexity: last.perplexity, bestPerplexity: Math.min(...curve.map((p) => p.perplexity)), e2e,
      trainableParams: trainable, clientFlopsPerStep: w.clientStepFlops, serverFlopsPerStep: w.serverStepFlops,
      bytesPerClient: { up: mean(run.bytesUp), down: mean(run.bytesDown) }, modelDownloadBytes: modelDownloadBytes(method, model, s.cut, s.labels),
      peakClientBytes: peakClient, peakCentralBytes: peakCentral, modelled, modelledSeconds: modelled.totalSeconds, wallSeconds: run.wallSeconds,
      timeToTarget: { modelledSeconds: null, wallSeconds: null }, speedup: {}, backends: run.backends, meanSeqLen: run.meanSeqLen,
      phaseSeconds,
    };
    losses[method] = run.losses;
  }
  const all = Object.values(reports) as MethodReport[];
  const target = o.targetPerplexity ?? defaultTarget(all);
  for (const r of all) {
    r.timeToTarget = {
      modelledSeconds: timeToTarget(r.curve.map((p) => ({ seconds: p.modelledSeconds, perplexity: p.perplexity })), target),
      wallSeconds: timeToTarget(r.curve.map((p) => ({ seconds: p.wallSeconds, perplexity: p.perplexity })), target),
    };
  }
  for (const r of all) {
    for (const other of all) {
      if (other === r) continue;
      const mine = r.timeToTarget.modelledSeconds;
      const theirs = other.timeToTarget.modelledSeconds;
      r.speedup[other.method] = mine && theirs !== null && mine > 0 ? theirs / mine : null;
    }
  }
  return { settings: s, latency: o.latency, targetPerplexity: target, targetSource: o.targetPerplexity === undefined ? 'default' : 'given', methods: reports, losses };
}

export interface BenchExperimentOptions extends BenchOptions {
  model: SimModel;
  settings: TrainSettings;
  data: SimData;
  /** For the report: the command line, the tfjs backend, the partition spec and the E2E metrics' MRs. */
  command: string;
  backend: string;
  partition: string;
  e2eSource: ReportMeta['e2e'];
}

export interface BenchRun {
  bench: BenchResult;
  meta: ReportMeta;
}

export const bench: Experiment<BenchExperimentOptions, BenchRun> = {
  name: 'bench',
  description: 'CenLoRA, SplitLoRA and FedLoRA on the same data and settings: held-out curves, client cost, modelled and measured time, time to a target perplexity; writes a report folder',
  defaults: {},
  async run(o, hooks) {
    const { model, settings: s, data } = o;
    hooks.log(`bench: ${o.methods.join(', ')}; ${s.clients} clients × ${s.steps} steps, interval ${s.interval}, cut ${s.cut}; data: ${data.source}, shards ${data.shards.map((x) => x.length).join('/')}, ${data.heldout.length} held out`);
    const weights = toWeights(model.weights);
    const startedAt = new Date().toISOString();
    try {
      const result = await runBench(model, weights, s, data, o, {
        log: hooks.log,
        phase: (label, total) => {
          const bar = startProgress(hooks, label, total);
          return { update: (d, loss) => bar.update(d, loss === undefined ? '' : `loss ${loss.toFixed(3)}`), stop: () => bar.stop() };
        },
      });
      const meta: ReportMeta = {
        command: o.command, modelId: model.id, config: model.config, dataSource: data.source, partition: o.partition,
        heldoutExamples: Math.min(o.evalLimit ?? Infinity, data.heldout.length), backend: o.backend, startedAt, e2e: o.e2eSource,
      };
      return { bench: result, meta };
    } finally {
      disposeWeights(weights);
    }
  },
  /** Writes the run folder (report.md, SVG plots, results.json, CSVs); the text is report.md's Results section. */
  async report(r, dir) {
    if (!dir) throw new Error('bench: the report needs a run folder');
    const report = await writeBenchReport(dir, r.bench, r.meta);
    const md = await readFile(report, 'utf8');
    return { json: jsonByMethod(r.bench), text: md.slice(md.indexOf('## Results'), md.indexOf('## Plots')), files: [report] };
  },
};
