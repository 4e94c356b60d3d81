// Corpus BLEU as e2e-metrics computes it with `-p` (BLEUScore in metrics/pymteval.py):
// case-insensitive, clipped n-gram hits summed over the corpus, geometric mean of the four
// precisions, and a brevity penalty against the reference closest in length to each hypothesis.
import { maxRefCounts, mtevalTokenize, ngramCounts } from './mteval-tokenize';

export interface BleuOptions {
  /** Highest n-gram order (default 4). */
  maxN?: number;
  /** Added to every hit and length count; 0 for corpus BLEU, 1 for Moses-style sentence BLEU. */
  smoothing?: number;
}

// The scorer's floors that keep log() finite when a count is zero (or a length is not positive).
const TINY = 1e-15;
const SMALL = 1e-9;

/** Corpus BLEU on the 0–1 scale, for one reference group per hypothesis. */
export function bleu(refs: string[][], hyps: string[], options: BleuOptions = {}): number {
  const maxN = options.maxN ?? 4;
  const smoothing = options.smoothing ?? 0;
  const hits = new Array<number>(maxN).fill(0);
  const candLens = new Array<number>(maxN).fill(0);
  let refLen = 0;

  hyps.forEach((hyp, seg) => {
    const pred = mtevalTokenize(hyp);
    const refToks = refs[seg].map(mtevalTokenize);
    for (let i = 0; i < maxN; i++) {
      const refMax = maxRefCounts(refToks, i + 1);
      for (const [key, count] of ngramCounts(pred, i + 1)) hits[i] += Math.min(refMax.get(key) ?? 0, count);
      // Can go negative for hypotheses shorter than i tokens; the scorer keeps it that way.
      candLens[i] += pred.length - i;
    }
    // Closest reference length; on a tie, the shorter one.
    let best = refToks[0].length;
    for (const ref of refToks) {
      const d = Math.abs(ref.length - pred.length);
      const bestD = Math.abs(best - pred.length);
      if (d < bestD || (d === bestD && ref.length < best)) best = ref.length;
    }
    refLen += best;
  });

  let logSum = 0;
  for (let i = 0; i < maxN; i++) {
    const h = Math.max(hits[i] + smoothing, TINY);
    const len = Math.max(candLens[i] + smoothing, SMALL);
    logSum += Math.log(h / len);
  }
  const precision = Math.exp(logSum / maxN);
  const sysLen = candLens[0];
  const bp = sysLen <= refLen ? Math.exp(1 - refLen / (sysLen !== 0 ? sysLen : 1e-5)) : 1;
  return bp * precision;
}
