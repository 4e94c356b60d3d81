// The five scores of the E2E NLG Challenge scorer (tuetschek/e2e-metrics `measure_scores.py -p`),
// on the scales it prints.
import { bleu } from './bleu';
import { ciderTokenized } from './cider';
import { cocoTokenizeCorpus } from './coco-tokenize';
import { meteorTokenized } from './meteor';
import { nist } from './nist';
import { checkInputs } from './read-inputs';
import { rougeLTokenized } from './rouge';

export interface E2EScores {
  /** Corpus BLEU-4, 0–1 (papers usually print ×100). */
  BLEU: number;
  /** Corpus NIST-5, about 0–10. */
  NIST: number;
  /** METEOR 1.5, 0–1, exact and stem stages only (see meteor.ts). */
  METEOR: number;
  /** Mean ROUGE-L F (β = 1.2), 0–1. */
  ROUGE_L: number;
  /** Mean CIDEr-D, about 0–10. */
  CIDEr: number;
}

/**
 * All five E2E metrics for hypotheses `hyps[i]` against reference groups `refs[i]`.
 * Throws MetricsInputError if the counts differ or a group is empty.
 */
export function computeE2EMetrics(refs: string[][], hyps: string[]): E2EScores {
  checkInputs(refs, hyps);
  // BLEU and NIST tokenise raw text themselves; the COCO scorers share one PTB tokenisation.
  const tok = cocoTokenizeCorpus(refs, hyps);
  return {
    BLEU: bleu(refs, hyps),
    NIST: nist(refs, hyps),
    METEOR: meteorTokenized(tok.refs, tok.hyps),
    ROUGE_L: rougeLTokenized(tok.refs, tok.hyps),
    CIDEr: ciderTokenized(tok.refs, tok.hyps),
  };
}
