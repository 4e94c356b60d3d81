// `splitlora simulate`: one SplitLoRA run with N clients, in this process (Node volunteers over
// loopback sockets) or in headless Chromium tabs, summarised as one JSON object.
import type { ResolvedEngine } from '@splitlora/server';
import { disposeWeights, toWeights, type LoraConfig, type TensorRecord, type Weights } from '@splitlora/model';
import { saveAdapterDir } from '@splitlora/model/node';
import { startProgress, type Experiment } from '../experiment';
import { formatTable } from '../table';
import { heldoutCurve } from './evaluate';
import { runSplitBrowser, type BrowserOptions } from './split-browser';
import { runSplitInProcess } from './split-in-process';
import type { MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';
import { TEST_WEB_DIR, ensureWebBuilt } from './web-build';

export interface SimulateResult {
  method: 'split';
  clients: number;
  /** Local steps per client. */
  steps: number;
  aggregations: number;
  /** Mean over clients of the first / last local step's training loss (label-smoothed, as trained). */
  initialLoss: number;
  finalLoss: number;
  /** Mean completion NLL on the held-out set, no smoothing, of the final model (client average + server adapter). */
  heldoutLoss: number;
  /** Per client, on the wire: WebSocket payloads + frame headers of its socket (the one-off model download over HTTP excluded). */
  bytesUp: number[];
  bytesDown: number[];
  backends: string[];
  wallSeconds: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function summarise(run: MethodRun, heldoutLoss: number): SimulateResult {
  const firsts = run.losses.filter((l) => l.length > 0).map((l) => l[0]);
  const lasts = run.losses.filter((l) => l.length > 0).map((l) => l[l.length - 1]);
  return {
    method: 'split', clients: run.clients, steps: run.stepsPerClient, aggregations: run.aggregations,
    initialLoss: mean(firsts), finalLoss: mean(lasts), heldoutLoss,
    bytesUp: run.bytesUp, bytesDown: run.bytesDown, backends: run.backends, wallSeconds: run.wallSeconds,
  };
}

export interface SimulateOptions {
  mode: 'in-process' | 'browser';
  browser?: BrowserOptions;
  stallMs?: number;
  engine?: ResolvedEngine;
}

export async function runSimulate(model: SimModel, weights: Weights, s: TrainSettings, data: SimData, opts: SimulateOptions, hooks: RunHooks = {}): Promise<{ result: SimulateResult; run: MethodRun }> {
  const run = opts.mode === 'browser'
    ? await runSplitBrowser(model, s, data, hooks, { ...opts.browser, stallMs: opts.stallMs, engine: opts.engine })
    : await runSplitInProcess(model, s, data, hooks, { stallMs: opts.stallMs, engine: opts.engine });
  const last = run.checkpoints[run.checkpoints.length - 1];
  const [point] = await heldoutCurve(model, weights, s, data.heldout, [last]);
  return { result: summarise(run, point.heldoutLoss), run };
}

export interface SimulateExperimentOptions {
  model: SimModel;
  settings: TrainSettings;
  data: SimData;
  mode: 'in-process' | 'browser';
  /** The server's engine, and the tfjs backend this process selected (for the log). */
  engine: ResolvedEngine;
  backend: string;
  /** Chromium binary, and the tfjs backend the tabs try first (--browser). */
  chromiumPath?: string;
  browserBackend?: string;
}

export interface SimulateRun {
  summary: SimulateResult;
  /** The final adapter (the clients' average on blocks [0, cut), the server's on the rest). */
  adapter: TensorRecord;
  lora: LoraConfig;
  modelId: string;
}

export const simulate: Experiment<SimulateExperimentOptions, SimulateRun> = {
  name: 'simulate',
  description: 'run SplitLoRA with N simulated clients: Node volunteers over loopback sockets (--in-process) or headless Chromium tabs (--browser)',
  defaults: { mode: 'in-process' },
  async run(o, hooks) {
    const { log } = hooks;
    const { model, settings: s, data } = o;
    log(`simulate: ${o.mode}, ${s.clients} clients × ${s.steps} steps, interval ${s.interval}, cut ${s.cut}; data: ${data.source}, shards ${data.shards.map((x) => x.length).join('/')}, ${data.heldout.length} held out`);
    if (o.mode === 'browser') await ensureWebBuilt(TEST_WEB_DIR, log); // before the progress bar draws
    const weights = toWeights(model.weights);
    const bar = startProgress(hooks, 'simulate', s.clients * s.steps);
    try {
      const { result, run } = await runSimulate(model, weights, s, data, {
        mode: o.mode, engine: o.engine,
        browser: { log, chromiumPath: o.chromiumPath, backends: o.browserBackend ? data.shards.map(() => o.browserBackend) : undefined },
      }, { onStep: (done, _t, loss) => bar.update(done, Number.isFinite(loss) ? loss.toFixed(3) : '–') }).finally(() => bar.stop());
      log(`simulate: server on ${o.engine.engine === 'torch' ? 'the torch engine' : `tfjs ${o.backend}`}; clients on ${result.backends.join(', ')}`);
      return { summary: result, adapter: run.checkpoints[run.checkpoints.length - 1].adapter, lora: s.lora, modelId: model.id };
    } finally {
      disposeWeights(weights);
    }
  },
  /** With `dir`, writes the final adapter there as a PEFT directory. */
  async report(r, dir) {
    if (dir) await saveAdapterDir(dir, r.adapter, r.lora, { baseModel: r.modelId });
    const s = r.summary;
    const text = formatTable(['client', 'backend', 'bytes up', 'bytes down'], s.backends.map((b, c) => [c, b, s.bytesUp[c], s.bytesDown[c]])) + '\n\n'
      + `${s.aggregations} aggregations; training loss ${s.initialLoss.toFixed(4)} → ${s.finalLoss.toFixed(4)}; held-out loss ${s.heldoutLoss.toFixed(4)}; ${s.wallSeconds.toFixed(1)} s\n`;
    return { json: s, text, files: dir ? [dir] : [] };
  },
};
