// The one weighted mean of named tensor records: FedAvg over clients and the average of server
// replicas both call it.
//
//   mean[name][i] = Σ_k w_k · records_k[name][i] / Σ_k w_k
//
// Sums run in float64, record by record in the order given, and round once to float32 at the end,
// so the result depends on record order only through float64 rounding.
import { TensorError, fmtShape } from './errors';
import { numel, type TensorRecord } from './host-tensor';

export interface WeightedMeanOptions {
  /** Prefixes error messages, e.g. "fedAvg" or "server adapter". */
  what?: string;
}

/**
 * The weighted mean of `records`, keyed by the sorted union of their names. A record that lacks
 * a tensor counts as zeros there (AdamW moments start at zero); callers that need identical names
 * check them first. A record of weight 0 is skipped, so its values (even NaN) never reach the mean.
 * Weights must be finite, ≥ 0 and sum to more than 0. The result never aliases an input.
 */
export function weightedMean(
  records: readonly TensorRecord[],
  weights: readonly number[],
  opts: WeightedMeanOptions = {},
): TensorRecord {
  const what = opts.what ?? 'weightedMean';
  if (records.length === 0) throw new TensorError('BAD_WEIGHTS', `${what}: no records to average; pass at least one`);
  if (weights.length !== records.length) {
    throw new TensorError('BAD_WEIGHTS', `${what}: ${records.length} records but ${weights.length} weights; pass one weight per record`);
  }
  let total = 0;
  weights.forEach((w, k) => {
    if (!Number.isFinite(w) || w < 0) throw new TensorError('BAD_WEIGHTS', `${what}: record ${k} has weight ${w}; it must be a finite number ≥ 0`);
    total += w;
  });
  if (total === 0) throw new TensorError('BAD_WEIGHTS', `${what}: the weights sum to 0; at least one record must weigh more than 0`);

  const out: TensorRecord = {};
  const names = [...new Set(records.flatMap((r) => Object.keys(r)))].sort();
  for (const name of names) {
    const first = records.findIndex((r) => Object.hasOwn(r, name));
    const shape = records[first][name].shape;
    const n = numel(shape);
    const acc = new Float64Array(n);
    records.forEach((r, k) => {
      if (!Object.hasOwn(r, name)) return;
      const t = r[name];
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]) || t.data.length !== n) {
        throw new TensorError(
          'SHAPE_MISMATCH',
          `${what}: tensor "${name}" of record ${k} has shape ${fmtShape(t.shape)} and ${t.data.length} values, record ${first} has shape ${fmtShape(shape)}`,
        );
      }
      const w = weights[k];
      if (w === 0) return;
      const data = t.data;
      for (let i = 0; i < n; i++) acc[i] += w * data[i];
    });
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = acc[i] / total;
    out[name] = { shape: [...shape], data };
  }
  return out;
}
