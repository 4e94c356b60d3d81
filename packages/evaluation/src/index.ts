// @splitlora/evaluation: held-out loss and the E2E generation evaluation of SplitLoRA/LoRA
// (decode one output per unique MR, post-process as gpt2_decode.py, score with the E2E metrics).
// Browser- and Node-safe: no file I/O here; formatters return the official scorer's file text.
export { heldoutLoss, type HeldoutOptions, type HeldoutResult, type NllModel } from './heldout';
export { groupByMr, formatGroupedRefs, formatLines, type MrGroups } from './references';
export { postprocessE2E, cleanReference, decodeGenerated, oneLine, pyStrip } from './postprocess';
export { e2ePrompt, generateE2E, type GenerateE2EOptions } from './generate';
export { evaluateE2E, type E2EEvaluation, type EvaluateE2EOptions } from './evaluate';
