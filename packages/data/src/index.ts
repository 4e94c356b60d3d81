// @splitlora/data: task data for split-federated LoRA. Browser- and Node-safe;
// file reading lives in files-node.ts ('@splitlora/data/node').
export { DataFormatError } from './examples';
export { fingerprintExamples } from './examples';
export type { EncodedExample, ParseOptions, ParseResult, TextExample } from './examples';
export { EOS, VOCAB_SIZE, decodeTokens, encodeExample, encodeExamples, encodeText } from './tokenizer';
export {
  MR_SLOTS,
  canonicalSlot,
  csvMrToLora,
  formatMr,
  mrOf,
  parseMr,
} from './mr';
export type { MrSlot, MrSlots } from './mr';
export { tokenizeE2E } from './word-tokenize';
export { DATA_FORMATS, detectFormat, parseDataFile, parseE2ECsv, parseE2EText, parseJsonl, parsePlainText } from './loaders';
export type { DataFormat } from './loaders';
export { SYNTHETIC_VALUES, syntheticE2E } from './synthetic';
export type { SyntheticOptions } from './synthetic';
export { CORPUS_PHRASING, CORPUS_VALUES, DEFAULT_CORPUS, LITERAL_PHRASING, describeFacts, factSentence, restaurantCorpus, restaurantCorpusExamples } from './corpus';
export type { CorpusFacts, CorpusOptions, Phrasing } from './corpus';
export { e2eSchemaCorpus, e2eSchemaExamples, harvestMrValues, statesFact } from './e2e-schema';
export type { E2ESchemaOptions, MrValues } from './e2e-schema';
export { DEFAULT_DIRICHLET_ATTR, parsePartitionSpec, partition } from './partition';
export type { PartitionSpec } from './partition';
export { BatchIterator, epochOrder, makeBatch } from './batching';
export type { Batch, BatchIteratorOptions, BatchIteratorState, BatchOptions } from './batching';
export { makeRng, mixSeed, permutation, sampleDirichlet, sampleGamma, shuffleInPlace } from './rng';
export type { Rng } from './rng';
