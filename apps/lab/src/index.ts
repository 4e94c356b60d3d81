// @splitlora/lab: the experiments (simulations, benchmarks, cost models, reports). Each is an
// Experiment the CLI calls; nothing here parses argv.
export { NO_PROGRESS, startProgress, type Experiment, type ExperimentHooks, type ExperimentReport, type Progress } from './experiment';
export { DEFAULT_MODEL_ID, PRETRAINED_DEFAULT_DIR, RANDOM_NANO, RANDOM_NANO_ID, cacheRoot, ensureDefaultModel, pretrainedDefault, resolveModel, type ResolveModelOptions } from './model-source';
export { countParams, randomGpt2Weights, writeRandomModel, type InitRecord } from './random-model';
export { loadModel, type LoadedModel } from './load-model';
export { DEMO_RUN, demoRun, type DemoRunOptions, type DemoRunResult } from './default-demo';
export { formatTable } from './table';
export { lockstep } from './lockstep';
export {
  adapterParams, blockFlops, matmulFlops, messageSizes, modelDownloadBytes, peakTrainingBytes, stepFlops, trainStepFlops,
  type MessageSizes, type MethodStepFlops, type StepFlops,
} from './cost-model';

export { BENCH_CONFIGS, MATMUL, benchConfig, benchModel, benchTables, matmulGflops, type BenchConfig, type BenchResult as BenchModelResult } from './bench-model';
export { benchSplit, runSplitBench, type SplitBenchOptions } from './bench-split';
export { benchServer, type BenchServerOptions } from './bench-server';
export { ENGINE_PRESETS, benchEngines, type BenchEnginesOptions, type BenchEnginesResult } from './bench-engines';
export { DEFAULT_BUDGET_S, GPU_CASES, benchGpu, runGpuBench, runGpuCaseChild } from './bench-gpu';
export { benchBrowser, runBrowserBench } from './bench-browser';

export { METHODS, METHOD_NAMES, type Method, type SimData, type SimModel, type TrainSettings } from './sim/types';
export { loadSimData } from './sim/data';
export { heldoutCurve } from './sim/evaluate';
export { runSimulate, simulate, type SimulateResult } from './sim/simulate';
export { ensureWebBuilt } from './sim/web-build';
export { bench, runBench, type BenchResult } from './sim/bench';
export { DEFAULT_LATENCY, latencyParams } from './sim/latency';
export { LATENCY_ASSUMPTIONS, jsonByMethod, writeBenchReport } from './sim/report';
export { benchPrivacy, runPrivacyBench, writePrivacyReport } from './sim/privacy';
export { benchScale, runScaleSetup } from './sim/scale';
export { medianRows, ratiosTo, scaleMarkdown, scaleText, setupName, summarizeSetup, type ScaleResult, type SetupMeasurement } from './sim/scale-report';
export { TINY, tinyModel, tinySettings } from './sim/test-model';
