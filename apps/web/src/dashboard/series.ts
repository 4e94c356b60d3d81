// Chart data from the metrics log: pure functions, so they are unit-tested without a DOM.
// uPlot wants column arrays: [xs, ys1, ys2, …] with one shared, ascending x.
import type { Metric } from './api';

export type Columns = [number[], ...(number | null)[][]];

/** Training loss per global step: the raw per-step loss and a trailing mean over `window` steps. */
export function lossSeries(metrics: readonly Metric[], window = 10): Columns {
  const steps = metrics
    .filter((m) => m.kind === 'step' && typeof m.globalStep === 'number' && typeof m.loss === 'number')
    .sort((a, b) => a.globalStep! - b.globalStep!);
  const xs: number[] = [];
  const raw: number[] = [];
  const mean: number[] = [];
  let sum = 0;
  for (const [i, m] of steps.entries()) {
    xs.push(m.globalStep!);
    raw.push(m.loss!);
    sum += m.loss!;
    if (i >= window) sum -= steps[i - window].loss!;
    mean.push(sum / Math.min(i + 1, window));
  }
  return [xs, raw, mean];
}

/** Held-out loss from 'eval' metrics, by global step (or by time when a point has no step). */
export function heldoutSeries(metrics: readonly Metric[]): Columns {
  const evals = metrics.filter((m) => m.kind === 'eval' && typeof m.heldoutLoss === 'number');
  const x = (m: Metric) => (typeof m.globalStep === 'number' ? m.globalStep : m.at / 1000);
  const sorted = [...evals].sort((a, b) => x(a) - x(b));
  return [sorted.map(x), sorted.map((m) => m.heldoutLoss!)];
}

/** Window of the smoothed throughput line. */
const SMOOTH_MS = 10_000;

/**
 * Server throughput in tokens/s over time (x in unix seconds): [xs, raw, smoothed]. Raw is the
 * server's own 'throughput' samples where the log has them, else the step tokens per grid cell;
 * steps land in bursts of a whole batch, so raw zig-zags and the smoothed line (a trailing window
 * of at least 10 s) is the one to read. The grid grows with the run so about `points` remain.
 */
export function throughputSeries(metrics: readonly Metric[], points = 60): Columns {
  const samples = metrics.filter((m) => m.kind === 'throughput' && typeof m.tokensPerSec === 'number').sort((a, b) => a.at - b.at);
  if (samples.length > 0) {
    const xs = samples.map((m) => m.at / 1000);
    const raw = samples.map((m) => m.tokensPerSec!);
    return [xs, raw, trailingMean(xs, raw, SMOOTH_MS / 1000)];
  }
  const steps = metrics.filter((m) => m.kind === 'step' && typeof m.tokens === 'number').sort((a, b) => a.at - b.at);
  if (steps.length === 0) return [[], [], []];
  const t0 = steps[0].at;
  const end = steps.at(-1)!.at;
  const gridMs = Math.max(1000, Math.ceil((end - t0) / points / 1000) * 1000);
  const windowMs = Math.max(SMOOTH_MS, 3 * gridMs);
  const xs: number[] = [];
  const raw: number[] = [];
  const smooth: number[] = [];
  let lo = 0; // first step inside the window
  let cell = 0; // first step inside the current grid cell
  let hi = 0; // first step after the sample time
  let sum = 0;
  for (let t = t0 + gridMs; ; t += gridMs) {
    const at = Math.min(t, end);
    while (hi < steps.length && steps[hi].at <= at) sum += steps[hi++].tokens!;
    while (steps[lo].at <= at - windowMs) sum -= steps[lo++].tokens!;
    let inCell = 0;
    for (; cell < hi; cell++) inCell += steps[cell].tokens!;
    // Early on the window reaches back before the first step: divide by the time that has passed.
    const span = Math.min(windowMs, Math.max(gridMs, at - t0));
    xs.push(at / 1000);
    raw.push(inCell / (gridMs / 1000));
    smooth.push(sum / (span / 1000));
    if (at === end) break;
  }
  return [xs, raw, smooth];
}

/** Mean of the values whose x lies in (x - window, x], for each x (xs ascending). */
export function trailingMean(xs: readonly number[], ys: readonly number[], window: number): number[] {
  const out: number[] = [];
  let lo = 0;
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += ys[i];
    while (xs[lo] <= xs[i] - window) sum -= ys[lo++];
    out.push(sum / (i - lo + 1));
  }
  return out;
}
