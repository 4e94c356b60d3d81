// METEOR 1.5 as coco-caption runs it (`-l en -norm`, default "rank" task), which e2e-metrics reports.
//
// Difference from the official jar: only the exact and stem stages are implemented. The jar also
// matches WordNet synonyms and entries of its paraphrase table; neither resource is reproduced
// here, so word pairs only those stages would align stay unmatched and this METEOR comes out a
// little lower. With the exact and stem stages alone, it reproduces METEOR 1.5 (built from
// cmu-mtlab/meteor) to 1e-12 on E2E data; adding the jar's synonym stage raised the corpus score
// by 0.004-0.006 there (0.4735 -> 0.4792 on metrics-example). The paraphrase stage adds more,
// by an amount not measured.
//
// Per segment: each reference is aligned with the hypothesis and the best-scoring reference's
// statistics are kept. The corpus score is computed from the statistics summed over segments
// (not the mean of segment scores), as the jar's EVAL line does.
import { cocoTokenizeCorpus } from './coco-tokenize';
import { align } from './meteor-align';
import { FUNCTION_WORDS } from './meteor-function-words';
import { javaTrim, meteorNormalize } from './meteor-normalize';

/** English "rank" task: precision/recall balance, fragmentation shape and weight, content-word weight. */
export const METEOR_PARAMS = { alpha: 0.85, beta: 0.2, gamma: 0.6, delta: 0.75 } as const;
/** Stage weights: exact, stem, synonym, paraphrase (the last two are never matched here). */
export const METEOR_STAGE_WEIGHTS = [1.0, 0.6, 0.8, 0.6] as const;

/** METEOR's sufficient statistics for one segment (or a sum of them). Per-stage arrays have 4 entries. */
export interface MeteorStats {
  testLength: number;
  refLength: number;
  testFunctionWords: number;
  refFunctionWords: number;
  testContentMatches: number[];
  refContentMatches: number[];
  testFunctionMatches: number[];
  refFunctionMatches: number[];
  chunks: number;
  testWordMatches: number;
  refWordMatches: number;
}

const zeros = (): number[] => [0, 0, 0, 0];
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const words = (line: string): string[] => line.split(/[ \t\n\r\f]+/).filter((w) => w !== '');

export function emptyMeteorStats(): MeteorStats {
  return {
    testLength: 0,
    refLength: 0,
    testFunctionWords: 0,
    refFunctionWords: 0,
    testContentMatches: zeros(),
    refContentMatches: zeros(),
    testFunctionMatches: zeros(),
    refFunctionMatches: zeros(),
    chunks: 0,
    testWordMatches: 0,
    refWordMatches: 0,
  };
}

/** Statistics of one normalised hypothesis against one normalised reference. */
export function meteorPairStats(test: string[], ref: string[]): MeteorStats {
  const { matches, chunks } = align(test, ref);
  const isFunction = (w: string): boolean => FUNCTION_WORDS.has(w.toLowerCase());
  const s = emptyMeteorStats();
  s.testLength = test.length;
  s.refLength = ref.length;
  s.testFunctionWords = test.filter(isFunction).length;
  s.refFunctionWords = ref.filter(isFunction).length;
  for (const m of matches) {
    if (m === null) continue;
    (isFunction(test[m.testPos]) ? s.testFunctionMatches : s.testContentMatches)[m.module]++;
    (isFunction(ref[m.refPos]) ? s.refFunctionMatches : s.refContentMatches)[m.module]++;
  }
  s.chunks = chunks;
  s.testWordMatches = sum(s.testContentMatches) + sum(s.testFunctionMatches);
  s.refWordMatches = sum(s.refContentMatches) + sum(s.refFunctionMatches);
  return s;
}

/** True when every word on both sides is matched in one chunk (fragmentation is then 0). */
function isPerfect(s: MeteorStats): boolean {
  return s.testWordMatches === s.testLength && s.refWordMatches === s.refLength && s.chunks === 1;
}

/** The METEOR score of a set of statistics (0 where it is undefined, e.g. an empty hypothesis). */
export function meteorScore(s: MeteorStats): number {
  const { alpha, beta, gamma, delta } = METEOR_PARAMS;
  const w = METEOR_STAGE_WEIGHTS;
  const testWeighted = delta * (s.testLength - s.testFunctionWords) + (1 - delta) * s.testFunctionWords;
  const refWeighted = delta * (s.refLength - s.refFunctionWords) + (1 - delta) * s.refFunctionWords;
  let testMatches = 0;
  let refMatches = 0;
  for (let i = 0; i < w.length; i++) testMatches += s.testContentMatches[i] * w[i] * delta;
  for (let i = 0; i < w.length; i++) refMatches += s.refContentMatches[i] * w[i] * delta;
  for (let i = 0; i < w.length; i++) testMatches += s.testFunctionMatches[i] * w[i] * (1 - delta);
  for (let i = 0; i < w.length; i++) refMatches += s.refFunctionMatches[i] * w[i] * (1 - delta);
  const precision = testMatches / testWeighted;
  const recall = refMatches / refWeighted;
  const fMean = 1 / ((1 - alpha) / precision + alpha / recall);
  const frag = isPerfect(s) ? 0 : s.chunks / ((s.testWordMatches + s.refWordMatches) / 2);
  const score = fMean * (1 - gamma * frag ** beta);
  return Number.isNaN(score) ? 0 : Math.max(score, 0);
}

/** Adds segment statistics into a total, as METEOR aggregates them (perfect segments add no chunk). */
export function addMeteorStats(total: MeteorStats, s: MeteorStats): void {
  total.testLength += s.testLength;
  total.refLength += s.refLength;
  total.testFunctionWords += s.testFunctionWords;
  total.refFunctionWords += s.refFunctionWords;
  for (let i = 0; i < 4; i++) {
    total.testContentMatches[i] += s.testContentMatches[i];
    total.refContentMatches[i] += s.refContentMatches[i];
    total.testFunctionMatches[i] += s.testFunctionMatches[i];
    total.refFunctionMatches[i] += s.refFunctionMatches[i];
  }
  if (!isPerfect(s)) total.chunks += s.chunks;
  total.testWordMatches += s.testWordMatches;
  total.refWordMatches += s.refWordMatches;
}

/**
 * Statistics for one coco-tokenised hypothesis against its references: those of the reference
 * with the highest score (the first one on ties). The texts pass through coco's wrapper, which
 * joins them into one "SCORE ||| ref ||| ... ||| hyp" line that METEOR splits on "|||".
 */
export function meteorSegmentStats(hyp: string, refs: string[]): MeteorStats {
  const cleanHyp = hyp.split('|||').join('').split('  ').join(' ');
  const parts = ['SCORE', refs.join(' ||| '), cleanHyp].join(' ||| ').split('|||');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop(); // Java's split drops trailing ""
  const test = words(meteorNormalize(javaTrim(parts[parts.length - 1])));
  let best = emptyMeteorStats();
  let bestScore = -1;
  for (const ref of parts.slice(1, -1)) {
    const stats = meteorPairStats(test, words(meteorNormalize(javaTrim(ref))));
    const score = meteorScore(stats);
    if (score > bestScore) {
      best = stats;
      bestScore = score;
    }
  }
  return best;
}

/** Corpus METEOR (0–1) over coco-tokenised text. */
export function meteorTokenized(refs: string[][], hyps: string[]): number {
  const total = emptyMeteorStats();
  hyps.forEach((hyp, i) => addMeteorStats(total, meteorSegmentStats(hyp, refs[i])));
  return meteorScore(total);
}

/** METEOR (0–1) on raw text, tokenised as coco-caption does first. Exact and stem stages only. */
export function meteor(refs: string[][], hyps: string[]): number {
  const tok = cocoTokenizeCorpus(refs, hyps);
  return meteorTokenized(tok.refs, tok.hyps);
}
