// SplitFed V1 on the server side: every node trains its own replica of the server LoRA on its
// volunteers' activations, and at each aggregation the replicas become one again, their adapters
// and AdamW moments averaged with weights ∝ the tokens each replica served in the round. This
// departs from SplitLoRA's single server model (one optimizer sees every client's step in turn).
import { weightedMean } from '@splitlora/tensor';
import type { ServerSnapshot } from '../compute/server-compute';

export interface Replica {
  node: string;
  /** Tokens this replica trained on since the last average. */
  tokens: number;
  /** Server steps since the last average. */
  steps: number;
  snapshot: ServerSnapshot;
}

/**
 * The token-weighted mean of the replicas (equal weights when none served a token). The step
 * count, which drives the server's lr schedule, is the furthest replica's; the counters add up.
 */
export function averageReplicas(replicas: Replica[], base: { serverSteps: number; tokens: number }): ServerSnapshot {
  if (replicas.length === 0) throw new Error('no server replica to average');
  const total = replicas.reduce((s, r) => s + r.tokens, 0);
  const weights = replicas.map((r) => (total > 0 ? r.tokens : 1));
  const snaps = replicas.map((r) => r.snapshot);
  // A moment a replica lacks counts as zeros in weightedMean, as AdamW moments start at zero.
  return {
    adapter: weightedMean(snaps.map((s) => s.adapter), weights, { what: 'server adapter' }),
    optimizer: {
      step: Math.max(...snaps.map((s) => s.optimizer.step)),
      m: weightedMean(snaps.map((s) => s.optimizer.m), weights, { what: 'server optimizer m' }),
      v: weightedMean(snaps.map((s) => s.optimizer.v), weights, { what: 'server optimizer v' }),
    },
    stats: { serverSteps: base.serverSteps + replicas.reduce((s, r) => s + r.steps, 0), tokens: base.tokens + total },
  };
}
