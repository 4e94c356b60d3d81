// ROUGE-L as coco-caption computes it (pycocoevalcap/rouge/rouge.py), which e2e-metrics runs.
import { cocoTokenizeCorpus } from './coco-tokenize';

const BETA = 1.2; // recall weighs 1.44 times precision

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: string[], b: string[]): number {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  let prev = new Array<number>(short.length + 1).fill(0);
  let cur = new Array<number>(short.length + 1).fill(0);
  for (let i = 1; i <= long.length; i++) {
    for (let j = 1; j <= short.length; j++) {
      cur[j] = long[i - 1] === short[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[short.length];
}

/**
 * ROUGE-L of one tokenised hypothesis: the best LCS precision and the best LCS recall over the
 * references (each maximised on its own, possibly from different references), combined as
 * F = (1 + β²)·P·R / (R + β²·P). Tokens are split on single spaces, so "" is one empty token.
 */
export function rougeLSegment(hyp: string, refs: string[]): number {
  const cand = hyp.split(' ');
  let pMax = 0;
  let rMax = 0;
  for (const ref of refs) {
    const r = ref.split(' ');
    const lcs = lcsLength(r, cand);
    pMax = Math.max(pMax, lcs / cand.length);
    rMax = Math.max(rMax, lcs / r.length);
  }
  if (pMax === 0 || rMax === 0) return 0;
  return ((1 + BETA ** 2) * pMax * rMax) / (rMax + BETA ** 2 * pMax);
}

/** Mean segment ROUGE-L (0–1) over coco-tokenised text. */
export function rougeLTokenized(refs: string[][], hyps: string[]): number {
  if (hyps.length === 0) return 0;
  return hyps.reduce((sum, hyp, i) => sum + rougeLSegment(hyp, refs[i]), 0) / hyps.length;
}

/** ROUGE-L (0–1) on raw text, tokenised as coco-caption does. */
export function rougeL(refs: string[][], hyps: string[]): number {
  const tok = cocoTokenizeCorpus(refs, hyps);
  return rougeLTokenized(tok.refs, tok.hyps);
}
