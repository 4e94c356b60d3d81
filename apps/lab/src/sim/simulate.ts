// `splitlora simulate`: one SplitLoRA run with N clients, in this process (Node volunteers over
// loopback sockets) or in headless Chromium tabs, summarised as one JSON object.
import type { ResolvedEngine } from '@splitlora/server';
import type { Weights } from '@splitlora/model';
import { heldoutCurve } from './evaluate';
import { runSplitBrowser, type BrowserOptions } from './split-browser';
import { runSplitInProcess } from './split-in-process';
import type { MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';

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
