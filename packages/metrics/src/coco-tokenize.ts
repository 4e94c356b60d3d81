// coco-caption's PTBTokenizer wrapper, which prepares text for METEOR, ROUGE-L and CIDEr:
// all captions are joined with newlines, run through `PTBTokenizer -preserveLines -lowerCase`,
// and tokens that are pure punctuation are dropped.
import { NEWLINE_TOKEN, ptbLex } from './ptb-lexer';

// Note that the list is matched after lowercasing, so "-lrb-"/"-rrb-" (from parentheses) survive.
const PUNCTUATIONS = new Set([
  "''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?', '!', ',', ':', '-', '--', '...', ';',
]);

// Characters the lexer treats as line breaks. The wrapper only replaces "\n" inside a caption;
// we replace them all, so that a stray "\r" cannot shift the captions out of line.
const LINE_BREAKS = /\r\n|[\r\n\u2028\u2029\u000B\u000C]/g;

/**
 * Tokenises captions as coco-caption does; returns each as its tokens joined by single spaces.
 * Tokenise all captions of one side (all references, or all hypotheses) in one call, in the
 * order coco uses: the lexer looks one line ahead in a few rare cases ("U.S." before "The").
 */
export function cocoTokenize(captions: string[]): string[] {
  if (captions.length === 0) return [];
  const tokens = ptbLex(captions.map((c) => c.replace(LINE_BREAKS, ' ')).join('\n'));
  const lines: string[][] = [[]];
  for (const token of tokens) {
    if (token === NEWLINE_TOKEN) lines.push([]);
    else lines[lines.length - 1].push(token.toLowerCase());
  }
  return captions.map((_, i) => (lines[i] ?? []).filter((w) => !PUNCTUATIONS.has(w)).join(' '));
}

/** References and hypotheses tokenised for the COCO scorers, keeping the reference grouping. */
export function cocoTokenizeCorpus(refs: string[][], hyps: string[]): { refs: string[][]; hyps: string[] } {
  const flat = cocoTokenize(refs.flat());
  let k = 0;
  return { refs: refs.map((group) => group.map(() => flat[k++])), hyps: cocoTokenize(hyps) };
}
