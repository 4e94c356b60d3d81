// Round policy behind one small interface (after Flower's Strategy): which clients a round asks,
// and how their results and failures become the next global adapter. Failures (disconnects,
// deadlines, rejected uploads) are ordinary inputs; a round that cannot aggregate returns
// `tensors: null` and the caller keeps the previous average.

import { fedAvg, type TensorRecord } from './fedavg';

export interface ClientInfo {
  clientId: string;
  /** Examples the client holds (declared in hello). */
  examples: number;
}

export interface FitResult {
  clientId: string;
  tensors: TensorRecord;
  examples: number;
}

export interface FitFailure {
  clientId: string;
  /** Short machine-readable reason, e.g. "disconnect", "deadline", "step-deadline", "rejected:E_SHAPE". */
  reason: string;
}

export interface AggregateOutcome {
  /** The new global adapter, or null to keep the previous one. */
  tensors: TensorRecord | null;
  /** Clients whose results are in `tensors` (empty when null). */
  participants: string[];
  /** Why tensors is null. */
  reason?: string;
}

export interface Strategy {
  /** The ids of the clients asked to upload in this round. */
  configureRound(round: number, available: readonly ClientInfo[]): string[];
  aggregate(round: number, results: readonly FitResult[], failures: readonly FitFailure[]): AggregateOutcome;
}

export interface FedAvgOptions {
  /** Fewest results that make an aggregate (default 1). */
  minResults?: number;
}

/** Asks every available client; averages their adapters weighted by example count. */
export class FedAvgStrategy implements Strategy {
  readonly minResults: number;

  constructor(opts: FedAvgOptions = {}) {
    this.minResults = opts.minResults ?? 1;
    if (!Number.isInteger(this.minResults) || this.minResults < 1) {
      throw new Error(`FedAvgStrategy: minResults must be an integer ≥ 1, got ${opts.minResults}`);
    }
  }

  configureRound(_round: number, available: readonly ClientInfo[]): string[] {
    return available.map((c) => c.clientId);
  }

  aggregate(_round: number, results: readonly FitResult[], failures: readonly FitFailure[]): AggregateOutcome {
    const usable = results.filter((r) => r.examples > 0);
    if (usable.length < this.minResults) {
      const failed = failures.length ? ` (${failures.length} failed: ${summarize(failures)})` : '';
      return {
        tensors: null,
        participants: [],
        reason: `${usable.length} usable result(s), fewer than minResults ${this.minResults}${failed}`,
      };
    }
    return { tensors: fedAvg(usable), participants: usable.map((r) => r.clientId) };
  }
}

function summarize(failures: readonly FitFailure[]): string {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f.reason, (counts.get(f.reason) ?? 0) + 1);
  return [...counts].map(([reason, n]) => `${n}× ${reason}`).join(', ');
}
