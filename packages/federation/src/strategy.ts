// Round policy behind one small interface (after Flower's Strategy): which clients a round asks,
// and how their results and failures become the next global adapter. Failures (disconnects,
// deadlines, rejected uploads) are ordinary inputs; a round that cannot aggregate returns
// `tensors: null` and the caller keeps the previous average.

import { fedAvg, type TensorRecord } from './fedavg';
import { coordinateMedian, trimmedMean } from './robust';

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
    return { tensors: this.combine(usable), participants: usable.map((r) => r.clientId) };
  }

  /** The new global adapter from the usable results: their example-weighted mean. */
  protected combine(usable: readonly FitResult[]): TensorRecord {
    return fedAvg(usable);
  }
}

export type RobustRule = 'trimmed-mean' | 'median';

export interface RobustOptions extends FedAvgOptions {
  rule: RobustRule;
  /** trimmed-mean: the share of clients dropped at each end, per coordinate (0 ≤ trim < 0.5). */
  trim?: number;
}

/**
 * FedAvgStrategy's rounds with a robust rule in place of the weighted mean (robust.ts). The trim
 * count is ⌊trim·n⌋ of the n results, so with fewer than 1/trim clients nothing is trimmed.
 */
export class RobustStrategy extends FedAvgStrategy {
  readonly rule: RobustRule;
  readonly trim: number;

  constructor(opts: RobustOptions) {
    super(opts);
    this.rule = opts.rule;
    this.trim = opts.trim ?? 0.2;
    if (!(this.trim >= 0 && this.trim < 0.5)) throw new Error(`RobustStrategy: trim must be in [0, 0.5), got ${opts.trim}`);
  }

  protected override combine(usable: readonly FitResult[]): TensorRecord {
    return this.rule === 'median' ? coordinateMedian(usable) : trimmedMean(usable, Math.floor(this.trim * usable.length));
  }
}

function summarize(failures: readonly FitFailure[]): string {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f.reason, (counts.get(f.reason) ?? 0) + 1);
  return [...counts].map(([reason, n]) => `${n}× ${reason}`).join(', ');
}
