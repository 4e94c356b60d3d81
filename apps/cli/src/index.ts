// @splitlora/cli: the `splitlora` command line (bin/splitlora.mjs runs ./main.ts).
export { createProgram, runCli } from './program';
export { DEFAULT_MODEL_ID, PRETRAINED_DEFAULT_DIR, RANDOM_NANO, RANDOM_NANO_ID, cacheRoot, ensureDefaultModel, pretrainedDefault, resolveModel, type ResolveModelOptions } from './model-source';
export { countParams, randomGpt2Weights, writeRandomModel, type InitRecord } from './random-model';
export { loadModel, type LoadedModel } from './load-model';
export { scoreExamples, type ScoreResult } from './commands/score';
export { trainStepFlops, matmulFlops, type StepFlops } from './flops';
export { BENCH_CONFIGS, benchConfig, type BenchConfig, type BenchResult } from './commands/bench-model';
