// FedAvg: the example-weighted mean of named tensor records. Pure, no I/O; inputs are assumed
// validated (protocol's checkAdapter), so a mismatch here is a bug and throws, naming the client.
//
//   avg[name][i] = Σ_k examples_k · tensors_k[name][i] / Σ_k examples_k
//
// The arithmetic is @splitlora/tensor's weightedMean: float64 sums in client order, rounded once
// to float32, so the outcome does not depend on client order beyond float64 rounding.
import { weightedMean, type TensorRecord } from '@splitlora/tensor';

export type { HostTensor, TensorRecord } from '@splitlora/tensor';

export interface WeightedUpdate {
  tensors: TensorRecord;
  /** Training examples behind this update: its weight. */
  examples: number;
}

export class AggregationError extends Error {
  override readonly name = 'AggregationError';
}

export function fedAvg(updates: readonly WeightedUpdate[]): TensorRecord {
  if (updates.length === 0) throw new AggregationError('fedAvg: no updates to average; wait for at least one result');
  let total = 0;
  updates.forEach((u, k) => {
    if (!Number.isFinite(u.examples) || u.examples < 0) {
      throw new AggregationError(`fedAvg: client ${k} has example count ${u.examples}; it must be a finite number ≥ 0`);
    }
    total += u.examples;
  });
  if (total === 0) throw new AggregationError('fedAvg: the total example count is 0; at least one client must report examples > 0');

  commonShapes('fedAvg', updates); // every client has the same names and shapes, so no tensor counts as zeros
  return weightedMean(updates.map((u) => u.tensors), updates.map((u) => u.examples), { what: 'fedAvg' });
}

/**
 * The tensor names (sorted) and shapes every update shares; throws an AggregationError naming
 * the first client whose names, shapes or value counts differ from client 0's.
 */
export function commonShapes(who: string, updates: readonly { tensors: TensorRecord }[]): Record<string, number[]> {
  const names = Object.keys(updates[0].tensors).sort();
  const shapes: Record<string, number[]> = {};
  for (const name of names) shapes[name] = [...updates[0].tensors[name].shape];
  updates.forEach((u, k) => {
    const have = new Set(Object.keys(u.tensors));
    const missing = names.filter((n) => !have.has(n));
    const extra = [...have].filter((n) => !names.includes(n));
    if (missing.length || extra.length) {
      const parts = [missing.length ? `lacks ${quote(missing)}` : '', extra.length ? `has extra ${quote(extra)}` : ''];
      throw new AggregationError(`${who}: client ${k} ${parts.filter(Boolean).join(' and ')} compared with client 0`);
    }
    for (const name of names) {
      const t = u.tensors[name];
      const shape = shapes[name];
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
        throw new AggregationError(`${who}: tensor "${name}" of client ${k} has shape [${t.shape.join(', ')}], client 0 has [${shape.join(', ')}]`);
      }
      const n = shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new AggregationError(`${who}: tensor "${name}" of client ${k} has ${t.data.length} values, its shape needs ${n}`);
    }
  });
  return shapes;
}

function quote(names: string[]): string {
  return names
    .slice(0, 5)
    .map((n) => `"${n}"`)
    .join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
}
