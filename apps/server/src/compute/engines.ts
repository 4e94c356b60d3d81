// Picking the training engine: `--engine auto|tfjs|torch`. auto takes torch when a Python with a
// usable torch is found (and CUDA, if --device cuda asks for it), and tfjs otherwise, saying why.
// An explicit torch that cannot run fails with the probe's one-line hint, never a stack.
import { availableParallelism } from 'node:os';
import { probeTorch, type TorchDevice } from '@splitlora/engine-torch';
import type { GPT2Config, TensorRecord } from '@splitlora/model';
import { ComputePool } from './compute-pool';
import { ComputeWorker } from './compute-worker';
import type { ComputeService } from './service';
import { TorchCompute } from './torch-compute';

export type EngineSetting = 'auto' | 'tfjs' | 'torch';
export const ENGINE_SETTINGS: readonly EngineSetting[] = ['auto', 'tfjs', 'torch'];
export const TORCH_DEVICES: readonly TorchDevice[] = ['auto', 'cpu', 'cuda'];

export interface EngineChoice {
  engine: EngineSetting;
  /** torch only: auto takes CUDA when torch sees a GPU. */
  device?: TorchDevice;
  /**
   * torch: intra-op threads (default every core). tfjs: worker threads a step's rows are spread
   * over (default 1; tfjs-wasm in Node computes on one core per thread), unless `workers` says.
   */
  threads?: number;
  /** tfjs only: training worker threads (ComputePool when > 1); default `threads`, else 1. */
  workers?: number;
  /** torch only: the Python interpreter (default: $SPLITLORA_PYTHON, python3, /usr/bin/python3). */
  python?: string;
}

export type ResolvedEngine =
  | { engine: 'tfjs'; why: string; /** Training worker threads; default 1. */ workers?: number }
  | { engine: 'torch'; python: string; device: TorchDevice; threads: number; torch: string; why: string };

/** The engine was asked for by name and cannot run here; the message says what to install or change. */
export class EngineUnavailable extends Error {
  override readonly name = 'EngineUnavailable';
}

export async function resolveEngine(choice: EngineChoice): Promise<ResolvedEngine> {
  const device = choice.device ?? 'auto';
  if (!TORCH_DEVICES.includes(device)) throw new EngineUnavailable(`--device ${device}: must be one of ${TORCH_DEVICES.join(', ')}`);
  if (choice.threads !== undefined && !(Number.isInteger(choice.threads) && choice.threads >= 1)) throw new EngineUnavailable(`--threads ${choice.threads}: must be a whole number ≥ 1`);
  if (choice.workers !== undefined && !(Number.isInteger(choice.workers) && choice.workers >= 1)) throw new EngineUnavailable(`tfjs workers ${choice.workers}: must be a whole number ≥ 1`);
  const workers = choice.workers ?? choice.threads ?? 1;
  const spread = workers > 1 ? `, a step spread over ${workers} worker threads` : '';
  if (choice.engine === 'tfjs') return { engine: 'tfjs', workers, why: `--engine tfjs${spread}` };
  if (!ENGINE_SETTINGS.includes(choice.engine)) throw new EngineUnavailable(`--engine ${choice.engine}: must be one of ${ENGINE_SETTINGS.join(', ')}`);
  const probe = await probeTorch({ python: choice.python, device });
  if (probe.problem) {
    if (choice.engine === 'torch') throw new EngineUnavailable(probe.problem);
    return { engine: 'tfjs', workers, why: `engine auto: tfjs${spread}, because ${probe.problem}` };
  }
  const threads = choice.threads ?? availableParallelism();
  const where = device === 'cuda' || (device === 'auto' && probe.cudaAvailable) ? `cuda (${probe.gpus[0] ?? 'GPU'})` : `cpu, ${threads} threads`;
  return { engine: 'torch', python: probe.python, device, threads, torch: probe.torch!, why: `engine ${choice.engine === 'auto' ? 'auto: ' : ''}torch ${probe.torch} (${probe.python}) on ${where}` };
}

export interface TrainComputeBase {
  /** The tfjs backend (tfjs engine). */
  backend: string;
  config: GPT2Config;
  weights: TensorRecord;
  allowFaults?: boolean;
  onStderr?: (line: string) => void;
}

/** The training role's compute service on the resolved engine (not started). */
export function trainCompute(resolved: ResolvedEngine, base: TrainComputeBase): ComputeService {
  if (resolved.engine === 'tfjs') {
    const workers = resolved.workers ?? 1;
    if (workers > 1) return new ComputePool({ workers, backend: base.backend, config: base.config, weights: base.weights, allowFaults: base.allowFaults });
    return new ComputeWorker({ role: 'train', backend: base.backend, config: base.config, weights: base.weights, allowFaults: base.allowFaults });
  }
  return new TorchCompute({ python: resolved.python, device: resolved.device, threads: resolved.threads, config: base.config, weights: base.weights, allowFaults: base.allowFaults, onStderr: base.onStderr });
}
