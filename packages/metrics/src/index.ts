// @splitlora/metrics: the E2E NLG Challenge metrics (BLEU, NIST, METEOR, ROUGE-L, CIDEr) as
// tuetschek/e2e-metrics computes them, in plain TypeScript for browser and Node.
export { computeE2EMetrics, type E2EScores } from './e2e';
export { MetricsInputError, checkInputs, readGroupedRefs, readHyps } from './read-inputs';
export { bleu, type BleuOptions } from './bleu';
export { nist } from './nist';
export { rougeL, rougeLTokenized, rougeLSegment } from './rouge';
export { cider, ciderTokenized, ciderSegments } from './cider';
export {
  meteor,
  meteorTokenized,
  meteorSegmentStats,
  meteorPairStats,
  meteorScore,
  addMeteorStats,
  emptyMeteorStats,
  METEOR_PARAMS,
  METEOR_STAGE_WEIGHTS,
  type MeteorStats,
} from './meteor';
export { cocoTokenize, cocoTokenizeCorpus } from './coco-tokenize';
export { mtevalTokenize } from './mteval-tokenize';
export { porter2 } from './porter2';
