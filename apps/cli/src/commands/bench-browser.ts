// bench-browser: GPT-2 S split steps in one Chromium tab per browser backend (see bench-browser.ts).
import { Command, Option } from 'commander';
import { PRESETS, type PresetName } from '@splitlora/model';
import { runBrowserBench } from '@splitlora/lab';
import { log, printResult } from '../output';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got "${v}"`);
  return n;
};

export function benchBrowserCommand(): Command {
  return new Command('bench-browser')
    .description('split steps in real Chromium tabs (webgpu, webgl, wasm) on a random-weight model: bytes, load time, peak tf.memory(), forward/server/backward ms, tensor leaks')
    .addOption(new Option('--preset <name>', 'model architecture').choices(Object.keys(PRESETS)).default('gpt2'))
    .option('--backends <list>', 'browser backends, comma-separated', 'webgpu,webgl,wasm')
    .option('--steps <n>', 'split steps per tab', int, 3)
    .option('--batch <n>', 'rows per step', int, 1)
    .option('--seq-len <n>', 'tokens per row at most', int, 64)
    .option('--cut <k>', 'client blocks', int, 3)
    .option('--server-backend <name>', 'the server\'s tfjs backend in Node', 'wasm')
    .option('--chromium <path>', 'Chromium binary (default $CHROMIUM_PATH or /usr/bin/chromium)')
    .action(async (o: { preset: PresetName; backends: string; steps: number; batch: number; seqLen: number; cut: number; serverBackend: string; chromium?: string }) => {
      printResult(await runBrowserBench({
        preset: o.preset, backends: o.backends.split(',').map((b) => b.trim()).filter(Boolean), steps: o.steps, batch: o.batch, seqLen: o.seqLen,
        cut: o.cut, serverBackend: o.serverBackend, chromiumPath: o.chromium, log,
      }));
    });
}
