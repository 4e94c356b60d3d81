// @splitlora/lab: the experiments (simulations, benchmarks, cost models, reports) and the models they
// run on. Each experiment is an Experiment the CLI calls; nothing here parses argv.
import { benchBrowser } from './bench-browser';
import { benchEngines } from './bench-engines';
import { benchGpu } from './bench-gpu';
import { benchModel } from './bench-model';
import { benchServer } from './bench-server';
import { benchSplit } from './bench-split';
import { bench } from './sim/bench';
import { benchPrivacy } from './sim/privacy';
import { benchScale } from './sim/scale';
import { simulate } from './sim/simulate';

export { NO_PROGRESS, startProgress, type Experiment, type ExperimentHooks, type ExperimentReport, type Progress } from './experiment';

/** Every experiment; each one's name is the CLI command that runs it. */
export const EXPERIMENTS = [simulate, bench, benchModel, benchSplit, benchServer, benchEngines, benchBrowser, benchGpu, benchPrivacy, benchScale] as const;
export { bench, benchBrowser, benchEngines, benchGpu, benchModel, benchPrivacy, benchScale, benchServer, benchSplit, simulate };

// Their option and result types, and what their CLI commands need for flags and defaults.
export { BENCH_CONFIGS, type BenchConfig, type BenchModelOptions, type BenchModelReport } from './bench-model';
export type { SplitBenchOptions } from './bench-split';
export type { BenchServerOptions } from './bench-server';
export { ENGINE_PRESETS, type BenchEnginesOptions, type BenchEnginesResult } from './bench-engines';
export { GPU_CASES, runGpuCaseChild, type GpuBenchOptions } from './bench-gpu';
export type { BrowserBenchOptions } from './bench-browser';
export type { BenchExperimentOptions, BenchRun, BenchResult } from './sim/bench';
export { DEFAULT_LATENCY, latencyParams, type LatencyParams } from './sim/latency';
export { LATENCY_ASSUMPTIONS } from './sim/report';
export type { PrivacyExperimentOptions, PrivacyRun } from './sim/privacy';
export type { ScaleExperimentOptions } from './sim/scale';
export type { ScaleResult } from './sim/scale-report';
export { runSimulate, type SimulateExperimentOptions, type SimulateResult, type SimulateRun } from './sim/simulate';
export { METHODS, METHOD_NAMES, type Method, type SimData, type SimModel, type TrainSettings } from './sim/types';
export { loadSimData } from './sim/data';
export { heldoutCurve } from './sim/evaluate';

// The cost model.
export {
  adapterParams, blockFlops, matmulFlops, messageSizes, modelDownloadBytes, peakTrainingBytes, stepFlops, trainStepFlops,
  type MessageSizes, type MethodStepFlops, type StepFlops,
} from './cost-model';

// The models experiments (and the CLI's other commands) run on, the default demo, and helpers.
export { DEFAULT_MODEL_ID, PRETRAINED_DEFAULT_DIR, RANDOM_NANO, RANDOM_NANO_ID, cacheRoot, ensureDefaultModel, loadSimModel, pretrainedDefault, resolveModel, type ResolveModelOptions } from './model-source';
export { countParams, randomGpt2Weights, writeRandomModel, type InitRecord } from './random-model';
export { loadModel, type LoadedModel } from './load-model';
export { DEMO_RUN, demoRun, type DemoRunOptions, type DemoRunResult } from './default-demo';
export { formatTable } from './table';
export { lockstep } from './lockstep';
export { RedisServer, parseCommandCalls, parseNetBytes, type RedisCounters, type RedisNetBytes } from './redis-server';
export { freePort } from './free-port';
