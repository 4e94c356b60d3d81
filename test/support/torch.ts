// The torch engine's tests need Python with torch (CI installs Debian's python3-torch). Without it
// they skip and say why, unless SPLITLORA_REQUIRE_TORCH=1 (set by .ci/run), where they fail.
import { probeTorch, type TorchProbe } from '@splitlora/engine-torch';
import { TorchCompute } from '@splitlora/server';
import type { GPT2Config, TensorRecord } from '@splitlora/model';

export const torchProbe: TorchProbe = await probeTorch({ device: 'cpu' });
export const torchMissing = torchProbe.problem !== null && process.env.SPLITLORA_REQUIRE_TORCH !== '1';
if (torchMissing) console.warn(`torch engine tests skipped: ${torchProbe.problem}`);

/** A started torch engine on the CPU (2 threads). */
export async function startTorch(config: GPT2Config, weights: TensorRecord, opts: { allowFaults?: boolean; threads?: number } = {}): Promise<TorchCompute> {
  if (torchProbe.problem) throw new Error(torchProbe.problem);
  const c = new TorchCompute({ python: torchProbe.python, device: 'cpu', threads: opts.threads ?? 2, config, weights, allowFaults: opts.allowFaults });
  await c.start();
  return c;
}

/** ‖a − b‖ / ‖b‖ over every element (0 for two zero vectors). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** The largest relErr over the tensors of two records with the same names (Infinity if they differ). */
export function recordErr(a: TensorRecord, b: TensorRecord): number {
  const names = Object.keys(b);
  if (Object.keys(a).sort().join() !== [...names].sort().join()) return Infinity;
  return Math.max(0, ...names.map((n) => (a[n].shape.join() === b[n].shape.join() ? relErr(a[n].data, b[n].data) : Infinity)));
}

/** The engines a server test runs on: tfjs always, torch where Python has it (and always in CI). */
export const ENGINES: ('tfjs' | 'torch')[] = torchMissing ? ['tfjs'] : ['tfjs', 'torch'];

/** buildApp's engine option for a test on `engine` (torch: the CPU, one thread). */
export function engineOption(engine: 'tfjs' | 'torch') {
  return engine === 'torch' ? { engine: 'torch' as const, device: 'cpu' as const, threads: 1, python: torchProbe.python } : undefined;
}
