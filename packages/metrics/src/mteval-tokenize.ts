// Tokenisation of the Python MT-eval port (e2e-metrics `metrics/pymteval.py`), which mimics the
// "basic" (non-international) tokeniser of mteval-v13a.pl. Used by BLEU and NIST only.
import { PY_WS_RUN, pyStrip } from './py-text';

// ASCII punctuation and symbols that get spaces around them: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
// ( ) * + : ; < = > ? @ /. Left alone: ' , - . (handled below or kept inside words).
const PUNCT = /([\x7b-\x7e\x5b-\x60\x20-\x26\x28-\x2b\x3a-\x40\x2f])/gu;

/** Splits a sentence into mteval tokens (case kept; the scorers lowercase). "" gives [""]. */
export function mtevalTokenize(sentence: string): string[] {
  let s = sentence
    .replace(/<skipped>/g, '')
    .replace(/-\n/g, '') // join end-of-line hyphenation
    .replace(/\n/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
  s = ` ${s} `;
  s = s.replace(PUNCT, ' $1 ');
  s = s.replace(/([^0-9])([.,])/gu, '$1 $2 '); // period/comma unless preceded by a digit
  s = s.replace(/([.,])([^0-9])/gu, ' $1 $2'); // ... unless followed by a digit
  s = s.replace(/([0-9])(-)/gu, '$1 $2 '); // dash after a digit
  s = pyStrip(s.replace(PY_WS_RUN, ' '));
  // Like Python's ''.split(' '), an empty sentence is one empty token.
  return s.split(' ');
}

/** Lowercased n-grams of one order, keyed by their tokens joined with a space (tokens hold none). */
export function ngramCounts(tokens: string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  const lower = tokens.map((t) => t.toLowerCase());
  for (let i = 0; i + n <= lower.length; i++) {
    const key = n === 1 ? lower[i] : lower.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** For each n-gram, its largest count in any one reference (the clipping ceiling). */
export function maxRefCounts(refs: string[][], n: number): Map<string, number> {
  const merged = new Map<string, number>();
  for (const ref of refs) {
    for (const [key, count] of ngramCounts(ref, n)) {
      merged.set(key, Math.max(merged.get(key) ?? 0, count));
    }
  }
  return merged;
}
