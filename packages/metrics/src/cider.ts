// CIDEr-D as coco-caption computes it (pycocoevalcap/cider/cider_scorer.py), which e2e-metrics runs.
// Per order n = 1..4, a segment's hypothesis and each reference become TF-IDF vectors over n-grams
// (TF = raw count, IDF = log(#segments) − log(max(1, #segments whose references contain the n-gram)));
// the similarity is a cosine with the hypothesis weights clipped at the reference's, times a
// Gaussian penalty on the length difference (σ = 6). Orders are averaged, references averaged,
// the result scaled by 10, and segments averaged.
import { cocoTokenizeCorpus } from './coco-tokenize';
import { pySplit } from './py-text';

const N = 4;
const SIGMA = 6;

/** All 1..4-gram counts of a sentence (whitespace-split), keyed by order then tokens. */
function ngramCounts(sentence: string): Map<string, number>[] {
  const words = pySplit(sentence);
  const counts = Array.from({ length: N }, () => new Map<string, number>());
  for (let k = 1; k <= N; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const key = words.slice(i, i + k).join(' ');
      counts[k - 1].set(key, (counts[k - 1].get(key) ?? 0) + 1);
    }
  }
  return counts;
}

interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  /** The scorer's "length": its bigram count (len − 1, or 0 for an empty sentence). */
  length: number;
}

function tfIdf(counts: Map<string, number>[], docFreq: Map<string, number>[], logSegments: number): TfIdf {
  const vec = counts.map(() => new Map<string, number>());
  const norm = new Array<number>(N).fill(0);
  counts.forEach((byGram, n) => {
    for (const [key, tf] of byGram) {
      const df = Math.log(Math.max(1, docFreq[n].get(key) ?? 0));
      const w = tf * (logSegments - df);
      vec[n].set(key, w);
      norm[n] += w * w;
    }
  });
  let length = 0;
  for (const tf of counts[1].values()) length += tf;
  return { vec, norm: norm.map(Math.sqrt), length };
}

function similarity(hyp: TfIdf, ref: TfIdf): number[] {
  const delta = hyp.length - ref.length;
  const penalty = Math.exp(-(delta * delta) / (2 * SIGMA * SIGMA));
  return hyp.vec.map((byGram, n) => {
    let val = 0;
    for (const [key, w] of byGram) {
      const r = ref.vec[n].get(key) ?? 0;
      val += Math.min(w, r) * r;
    }
    if (hyp.norm[n] !== 0 && ref.norm[n] !== 0) val /= hyp.norm[n] * ref.norm[n];
    return val * penalty;
  });
}

/** Per-segment CIDEr-D scores (about 0–10) over coco-tokenised text. */
export function ciderSegments(refs: string[][], hyps: string[]): number[] {
  const refCounts = refs.map((group) => group.map(ngramCounts));
  // Document frequency: in how many segments' references an n-gram occurs at all.
  const docFreq = Array.from({ length: N }, () => new Map<string, number>());
  for (const group of refCounts) {
    for (let n = 0; n < N; n++) {
      const seen = new Set<string>();
      for (const counts of group) for (const key of counts[n].keys()) seen.add(key);
      for (const key of seen) docFreq[n].set(key, (docFreq[n].get(key) ?? 0) + 1);
    }
  }
  const logSegments = Math.log(refs.length);
  return hyps.map((hyp, i) => {
    const h = tfIdf(ngramCounts(hyp), docFreq, logSegments);
    const sum = new Array<number>(N).fill(0);
    for (const counts of refCounts[i]) {
      similarity(h, tfIdf(counts, docFreq, logSegments)).forEach((v, n) => (sum[n] += v));
    }
    const mean = sum.reduce((a, b) => a + b, 0) / N;
    return (mean / refCounts[i].length) * 10;
  });
}

/** Mean CIDEr-D over coco-tokenised text. */
export function ciderTokenized(refs: string[][], hyps: string[]): number {
  if (hyps.length === 0) return 0;
  return ciderSegments(refs, hyps).reduce((a, b) => a + b, 0) / hyps.length;
}

/** CIDEr-D (about 0–10) on raw text, tokenised as coco-caption does. */
export function cider(refs: string[][], hyps: string[]): number {
  const tok = cocoTokenizeCorpus(refs, hyps);
  return ciderTokenized(tok.refs, tok.hyps);
}
