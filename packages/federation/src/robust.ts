// Aggregation that a few lying volunteers cannot steer: the coordinate-wise trimmed mean and the
// coordinate-wise median (Yin et al., 2018, "Byzantine-Robust Distributed Learning"). FedAvg
// trusts every upload and every self-reported example count, so one client sending large values,
// or claiming a huge shard, moves the average as far as it likes. Here, per coordinate, the
// k largest and k smallest values are dropped and the rest averaged, unweighted on purpose:
// example counts come from the clients, so a rule that resists a liar cannot trust them either.
import { AggregationError, commonShapes, type TensorRecord } from './fedavg';

/**
 * Per coordinate: sort the n clients' values, drop `k` from each end, average the rest (float64,
 * rounded once to float32). k = 0 is the plain mean; k = ⌊(n−1)/2⌋ is the median.
 */
export function trimmedMean(updates: readonly { tensors: TensorRecord }[], k: number): TensorRecord {
  const n = updates.length;
  if (n === 0) throw new AggregationError('trimmedMean: no updates to aggregate; wait for at least one result');
  if (!Number.isInteger(k) || k < 0 || 2 * k >= n) throw new AggregationError(`trimmedMean: cannot drop ${k} from each end of ${n} values`);
  const out: TensorRecord = {};
  const column = new Float64Array(n);
  for (const [name, shape] of Object.entries(commonShapes('trimmedMean', updates))) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      for (let c = 0; c < n; c++) column[c] = updates[c].tensors[name].data[i];
      column.sort();
      let sum = 0;
      for (let c = k; c < n - k; c++) sum += column[c];
      data[i] = sum / (n - 2 * k);
    }
    out[name] = { shape, data };
  }
  return out;
}

/** The coordinate-wise median (the mean of the middle two for an even count). */
export function coordinateMedian(updates: readonly { tensors: TensorRecord }[]): TensorRecord {
  return trimmedMean(updates, Math.floor((updates.length - 1) / 2));
}
