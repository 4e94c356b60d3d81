// bench-browser: GPT-2 S split steps in one Chromium tab per browser backend (@splitlora/lab bench-browser.ts).
import { Command, Option } from 'commander';
import { PRESETS, type PresetName } from '@splitlora/model';
import { benchBrowser } from '@splitlora/lab';
import { log, printResult } from '../output';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got "${v}"`);
  return n;
};

export function benchBrowserCommand(): Command {
  const d = benchBrowser.defaults;
  return new Command(benchBrowser.name)
    .description(benchBrowser.description)
    .addOption(new Option('--preset <name>', 'model architecture').choices(Object.keys(PRESETS)).default(d.preset))
    .option('--backends <list>', 'browser backends, comma-separated', d.backends!.join(','))
    .option('--steps <n>', 'split steps per tab', int, d.steps)
    .option('--batch <n>', 'rows per step', int, d.batch)
    .option('--seq-len <n>', 'tokens per row at most', int, d.seqLen)
    .option('--cut <k>', 'client blocks', int, d.cut)
    .option('--server-backend <name>', 'the server\'s tfjs backend in Node', d.serverBackend)
    .option('--chromium <path>', 'Chromium binary (default $CHROMIUM_PATH or /usr/bin/chromium)')
    .action(async (o: { preset: PresetName; backends: string; steps: number; batch: number; seqLen: number; cut: number; serverBackend: string; chromium?: string }) => {
      const result = await benchBrowser.run({
        preset: o.preset, backends: o.backends.split(',').map((b) => b.trim()).filter(Boolean), steps: o.steps, batch: o.batch, seqLen: o.seqLen,
        cut: o.cut, serverBackend: o.serverBackend, chromiumPath: o.chromium,
      }, { log });
      printResult((await benchBrowser.report(result)).json);
    });
}
