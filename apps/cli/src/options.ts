// Option parsers shared by the commands. Each rejects bad input with a message naming the flag.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { NODE_BACKENDS } from '@splitlora/backend/node';
import type { TorchDevice } from '@splitlora/engine-torch';
import { ENGINE_SETTINGS, EngineUnavailable, TORCH_DEVICES, resolveEngine, type EngineSetting, type ResolvedEngine } from '@splitlora/server';
import { CliError } from './output';

/** Parser for an integer >= min. */
export function intAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}, got "${value}"`);
    }
    return n;
  };
}

/** Parser for a finite number > 0. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number > 0, got "${value}"`);
  return n;
}

export const BACKEND_CHOICES = ['auto', ...NODE_BACKENDS] as const;

/** `--backend auto|tensorflow-gpu|webgpu|tensorflow|wasm|cpu`; every command that computes takes it. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tfjs backend (auto picks the fastest available)').choices(BACKEND_CHOICES).default('auto');
}

export interface EngineFlags {
  engine: EngineSetting;
  device: TorchDevice;
  threads?: number;
  python?: string;
}

/**
 * `--engine auto|tfjs|torch` and the torch engine's `--device`, `--threads` and `--python`: every
 * command that runs a server part takes them. On tfjs, `--threads n` spreads each training step
 * over n worker threads on --backend (ComputePool; default 1, as one tfjs-wasm thread uses one core).
 */
export function addEngineOptions(cmd: Command, defaultEngine: EngineSetting = 'auto'): Command {
  return cmd
    .addOption(new Option('--engine <name>', 'server compute engine: torch (PyTorch child process), tfjs (worker thread on --backend), or auto (torch when Python has it)').choices(ENGINE_SETTINGS).default(defaultEngine))
    .addOption(new Option('--device <name>', 'torch engine device (auto: CUDA when torch sees a GPU)').choices(TORCH_DEVICES).default('auto'))
    .option('--threads <n>', 'torch engine: intra-op threads (default: every core); tfjs engine: training worker threads a step is spread over (default 1)', intAtLeast(1))
    .option('--python <path>', 'torch engine interpreter (default: $SPLITLORA_PYTHON, python3, /usr/bin/python3)');
}

/** Resolves the engine flags once, logs the choice (and why auto fell back), and turns "cannot run" into a one-line error. */
export async function engineFromFlags(o: EngineFlags, say: (m: string) => void): Promise<ResolvedEngine> {
  try {
    const resolved = await resolveEngine({ engine: o.engine, device: o.device, threads: o.threads, python: o.python });
    say(resolved.why);
    return resolved;
  } catch (e) {
    if (e instanceof EngineUnavailable) throw new CliError(e.message);
    throw e;
  }
}
