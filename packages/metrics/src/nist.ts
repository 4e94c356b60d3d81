// Corpus NIST as e2e-metrics computes it with `-p` (NISTScore in metrics/pymteval.py).
// Each matched n-gram w1..wn earns its information weight log2(count(w1..wn-1) / count(w1..wn)),
// with counts taken over all references of the corpus (the 0-gram count is the total reference
// length). Per order, the summed information is divided by the number of hypothesis n-grams;
// the orders are added and scaled by a length penalty against the mean reference length.
import { maxRefCounts, mtevalTokenize, ngramCounts } from './mteval-tokenize';

// mteval's beta: the penalty is 0.5 when the system is 2/3 as long as the references.
const BETA = -Math.log(0.5) / Math.log(1.5) ** 2;

function lengthPenalty(sysLen: number, avgRefLen: number): number {
  const ratio = sysLen / avgRefLen;
  if (ratio >= 1) return 1;
  if (ratio <= 0) return 0;
  return Math.exp(-BETA * Math.log(ratio) ** 2);
}

/** Corpus NIST (5-grams; about 0–10 on E2E), for one reference group per hypothesis. */
export function nist(refs: string[][], hyps: string[], maxN = 5): number {
  // refCounts[n]: counts of n-grams over every reference in the corpus; refCounts[0] holds the 0-gram.
  const refCounts = Array.from({ length: maxN + 1 }, () => new Map<string, number>());
  const segHits: Map<string, number>[][] = Array.from({ length: maxN }, () => []);
  const candLens = new Array<number>(maxN).fill(0);
  let sysLen = 0;
  let avgRefLen = 0;

  hyps.forEach((hyp, seg) => {
    const pred = mtevalTokenize(hyp);
    const refToks = refs[seg].map(mtevalTokenize);
    for (let i = 0; i < maxN; i++) {
      candLens[i] += pred.length - i; // negative for short hypotheses, as in the scorer
      const refMax = maxRefCounts(refToks, i + 1);
      const hit = new Map<string, number>();
      for (const [key, count] of ngramCounts(pred, i + 1)) {
        const h = Math.min(count, refMax.get(key) ?? 0);
        if (h > 0) hit.set(key, h);
      }
      segHits[i].push(hit);
      const counts = refCounts[i + 1];
      for (const ref of refToks) {
        for (const [key, count] of ngramCounts(ref, i + 1)) counts.set(key, (counts.get(key) ?? 0) + count);
      }
    }
    const refLenSum = refToks.reduce((s, r) => s + r.length, 0);
    refCounts[0].set('', (refCounts[0].get('') ?? 0) + refLenSum);
    avgRefLen += refLenSum / refToks.length;
    sysLen += pred.length;
  });

  const info = (key: string, n: number): number => {
    const count = refCounts[n].get(key);
    if (count === undefined) return 0;
    const prefix = n === 1 ? '' : key.slice(0, key.lastIndexOf(' '));
    return Math.log2((refCounts[n - 1].get(prefix) ?? 0) / count);
  };

  let total = 0;
  for (let i = 0; i < maxN; i++) {
    let hitInfo = 0;
    for (const hit of segHits[i]) {
      let segInfo = 0;
      for (const [key, h] of hit) segInfo += info(key, i + 1) * h;
      hitInfo += segInfo;
    }
    // The Python scorer divides by zero here when no hypothesis has an i+1-gram; count that as 0.
    if (candLens[i] !== 0) total += hitInfo / candLens[i];
  }
  return lengthPenalty(sysLen, avgRefLen) * total;
}
