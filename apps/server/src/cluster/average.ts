// SplitFed V1 on the server side: every node trains its own replica of the server LoRA on its
// volunteers' activations, and at each aggregation the replicas become one again, their adapters
// and AdamW moments averaged with weights ∝ the tokens each replica served in the round. This
// departs from SplitLoRA's single server model (one optimizer sees every client's step in turn).
import type { TensorRecord } from '@splitlora/model';
import type { ServerSnapshot } from '../compute/server-compute';

export interface Replica {
  node: string;
  /** Tokens this replica trained on since the last average. */
  tokens: number;
  /** Server steps since the last average. */
  steps: number;
  snapshot: ServerSnapshot;
}

/** Σ w_i·record_i per tensor, in float64. A tensor a replica lacks counts as zeros (AdamW moments start at zero). */
function mean(records: TensorRecord[], weights: number[], what: string): TensorRecord {
  const out: TensorRecord = {};
  const names = [...new Set(records.flatMap((r) => Object.keys(r)))];
  for (const name of names) {
    const shape = records.find((r) => r[name])![name].shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const acc = new Float64Array(size);
    records.forEach((r, i) => {
      const x = r[name];
      if (!x) return;
      if (x.data.length !== size) throw new Error(`replica ${i}'s ${what} "${name}" has shape [${x.shape}], another has [${shape}]`);
      const w = weights[i];
      for (let j = 0; j < size; j++) acc[j] += w * x.data[j];
    });
    out[name] = { shape: shape.slice(), data: Float32Array.from(acc) };
  }
  return out;
}

/**
 * The token-weighted mean of the replicas (equal weights when none served a token). The step
 * count, which drives the server's lr schedule, is the furthest replica's; the counters add up.
 */
export function averageReplicas(replicas: Replica[], base: { serverSteps: number; tokens: number }): ServerSnapshot {
  if (replicas.length === 0) throw new Error('no server replica to average');
  const total = replicas.reduce((s, r) => s + r.tokens, 0);
  const weights = replicas.map((r) => (total > 0 ? r.tokens / total : 1 / replicas.length));
  const snaps = replicas.map((r) => r.snapshot);
  return {
    adapter: mean(snaps.map((s) => s.adapter), weights, 'adapter'),
    optimizer: {
      step: Math.max(...snaps.map((s) => s.optimizer.step)),
      m: mean(snaps.map((s) => s.optimizer.m), weights, 'optimizer m'),
      v: mean(snaps.map((s) => s.optimizer.v), weights, 'optimizer v'),
    },
    stats: { serverSteps: base.serverSteps + replicas.reduce((s, r) => s + r.steps, 0), tokens: base.tokens + total },
  };
}
