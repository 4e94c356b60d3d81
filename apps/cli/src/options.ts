// Option parsers shared by the commands. Each rejects bad input with a message naming the flag.
import { InvalidArgumentError, Option } from 'commander';
import { NODE_BACKENDS } from '@splitlora/backend/node';

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
