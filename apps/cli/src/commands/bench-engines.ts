// bench-engines: the server step on each compute engine, side by side in one run (@splitlora/lab bench-engines.ts).
// A benchmark, not a test.
import { Command, Option } from 'commander';
import { ENGINE_PRESETS, benchEngines, type BenchEnginesOptions } from '@splitlora/lab';
import { intAtLeast } from '../options';
import { log, printResult } from '../output';

interface BenchEnginesFlags { preset: BenchEnginesOptions['preset']; clients: string; oneThreadClients?: string; tfjsClients: string; batch: number; seqLen: number; steps: number; threads?: number; python?: string; skipTfjs?: boolean; skipPlain?: boolean; skipWhole?: boolean }

/** A comma-separated list of client counts (anything but a positive integer is left out). */
const list = (s: string) => s.split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n > 0);

export function benchEnginesCommand(): Command {
  const d = benchEngines.defaults;
  return new Command(benchEngines.name)
    .description(benchEngines.description)
    .addOption(new Option('--preset <name>', 'model shape (random weights)').choices(ENGINE_PRESETS).default(d.preset))
    .option('--clients <list>', 'batched clients per server step', d.clients!.join(','))
    .option('--one-thread-clients <list>', 'batched clients for the torch engine on 1 thread (default: --clients)')
    .option('--tfjs-clients <list>', 'batched clients for tfjs-wasm (≈30 s per GPT-2 S client-step on one core)', d.tfjsClients!.join(','))
    .option('--batch <b>', 'rows per client', intAtLeast(1), d.batch)
    .option('--seq-len <t>', 'tokens per row', intAtLeast(2), d.seqLen)
    .option('--steps <n>', 'timed steps per setup, after one warm-up step (the median is reported)', intAtLeast(1), d.steps)
    .option('--threads <n>', '"every core" for the torch runs (default: all of this machine\'s)', intAtLeast(1))
    .option('--python <path>', 'interpreter with torch (default: as --engine auto finds it)')
    .option('--skip-tfjs', 'leave tfjs-wasm out')
    .option('--skip-plain', 'leave the in-process engine and the plain PyTorch loop out')
    .option('--skip-whole', 'leave the whole model (cut 0) out of the in-process and plain runs')
    .action(async (o: BenchEnginesFlags) => {
      const result = await benchEngines.run({
        ...o, clients: list(o.clients), oneThreadClients: o.oneThreadClients === undefined ? undefined : list(o.oneThreadClients), tfjsClients: list(o.tfjsClients),
      }, { log });
      const report = await benchEngines.report(result);
      process.stderr.write(report.text!);
      printResult(report.json);
    });
}
