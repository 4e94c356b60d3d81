// The whole E2E evaluation: group the test set by MR, decode one output per MR, score the
// outputs against each MR's references with the official scorer's five metrics.
import type { TextExample } from '@splitlora/data';
import { computeE2EMetrics, type E2EScores } from '@splitlora/metrics';
import type { FullModel } from '@splitlora/model';
import { generateE2E, type GenerateE2EOptions } from './generate';
import { groupByMr } from './references';

export interface EvaluateE2EOptions extends GenerateE2EOptions {
  /** Evaluate only the first `limit` unique MRs (each with all its references). */
  limit?: number;
}

export interface E2EEvaluation {
  /** One output per MR, in MR order. */
  predictions: string[];
  /** refs[i]: the references of mrs[i]. */
  refs: string[][];
  mrs: string[];
  metrics: E2EScores;
}

export async function evaluateE2E(model: FullModel, testExamples: readonly TextExample[], opts: EvaluateE2EOptions = {}): Promise<E2EEvaluation> {
  const { limit, ...gen } = opts;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`evaluateE2E: limit must be an integer >= 1, got ${limit}`);
  const all = groupByMr(testExamples);
  if (all.mrs.length === 0) throw new Error('evaluateE2E: no test examples given');
  const mrs = all.mrs.slice(0, limit);
  const refs = all.refs.slice(0, limit);
  const predictions = await generateE2E(model, mrs, gen);
  return { predictions, refs, mrs, metrics: computeE2EMetrics(refs, predictions) };
}
