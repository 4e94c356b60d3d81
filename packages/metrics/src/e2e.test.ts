import { readFileSync } from 'node:fs';
import { e2eTitle, findE2EFile } from '@splitlora/data/node';
import { describe, expect, it } from 'vitest';
import { MetricsInputError, computeE2EMetrics, readGroupedRefs, readHyps } from './index';

const refsFile = findE2EFile('metrics-example/devel-conc.txt');
const hypsFile = findE2EFile('metrics-example/baseline-output.txt');

describe.skipIf(!refsFile || !hypsFile)(e2eTitle('computeE2EMetrics on e2e-metrics example-inputs', refsFile, hypsFile), () => {
  // Read only when present: describe bodies run even when skipped.
  const refs = refsFile && hypsFile ? readGroupedRefs(readFileSync(refsFile, 'utf8')) : [];
  const hyps = refsFile && hypsFile ? readHyps(readFileSync(hypsFile, 'utf8')) : [];
  const scores = computeE2EMetrics(refs, hyps);

  it('reads 10 instances', () => {
    expect(refs).toHaveLength(10);
    expect(hyps).toHaveLength(10);
  });

  it('matches BLEU and NIST of measure_scores.py -p', () => {
    expect(Math.abs(scores.BLEU - 0.720293)).toBeLessThan(5e-5);
    expect(Math.abs(scores.NIST - 7.788888)).toBeLessThan(5e-5);
  });

  it('matches the COCO scorers', () => {
    // ROUGE-L and CIDEr: pycocoevalcap's rouge.py and cider_scorer.py on this tokenisation
    // (which equals CoreNLP 3.4.1's here). METEOR: METEOR 1.5 built from cmu-mtlab/meteor with
    // the exact and stem stages (-l en -norm); the jar's synonym stage would give 0.4792.
    expect(scores.ROUGE_L).toBeCloseTo(0.7909526131515365, 10);
    expect(scores.CIDEr).toBeCloseTo(2.303943135258847, 10);
    expect(scores.METEOR).toBeCloseTo(0.47352943006398723, 10);
  });
});

describe('computeE2EMetrics', () => {
  it('gives perfect BLEU, METEOR and ROUGE-L when every hypothesis equals a reference', () => {
    const refs = [
      ['The Eagle is a cheap coffee shop near Burger King.', 'Cheap food at The Eagle.'],
      ['Zizzi is a family-friendly pub in the city centre.'],
    ];
    const scores = computeE2EMetrics(refs, [refs[0][0], refs[1][0]]);
    expect(scores.BLEU).toBe(1);
    expect(scores.METEOR).toBe(1);
    expect(scores.ROUGE_L).toBe(1);
    expect(scores.NIST).toBeGreaterThan(0);
    expect(scores.CIDEr).toBeGreaterThan(0);
  });

  it('rejects mismatched counts, naming both', () => {
    expect(() => computeE2EMetrics([['a'], ['b']], ['a'])).toThrow(MetricsInputError);
    expect(() => computeE2EMetrics([['a'], ['b']], ['a'])).toThrow(/2 reference groups but 1 hypotheses/);
  });
});
