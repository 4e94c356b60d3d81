// bench-model: LoRA training throughput per model size on the tfjs backend (@splitlora/lab bench-model.ts).
import { Command, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { BENCH_CONFIGS, benchModel } from '@splitlora/lab';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';

interface BenchModelFlags {
  backend: string;
  steps: number;
  warmup: number;
  only?: string;
  transposedCopies: 'auto' | 'on' | 'off';
}

export function benchModelCommand(): Command {
  const d = benchModel.defaults;
  return new Command(benchModel.name)
    .description(benchModel.description)
    .addOption(backendOption())
    .option('--steps <n>', 'timed steps per measurement (the median is reported)', intAtLeast(1), d.steps)
    .option('--warmup <n>', 'untimed steps before each measurement', intAtLeast(0), d.warmup)
    .option('--only <names>', `comma-separated subset of ${BENCH_CONFIGS.map((c) => c.name).join(',')} (${BENCH_CONFIGS.filter((c) => c.optIn).map((c) => c.name).join(', ')} only when named)`)
    .addOption(new Option('--transposed-copies <mode>', 'keep transposed copies of the frozen weights (auto: on wasm while they fit)').choices(['auto', 'on', 'off']).default(d.transposedCopies))
    .action(async (o: BenchModelFlags) => {
      const backend = await selectNodeBackend(o.backend, log);
      const names = o.only?.split(',').map((s) => s.trim()) ?? d.configs!.map((c) => c.name);
      const unknown = names.filter((n) => !BENCH_CONFIGS.some((c) => c.name === n));
      if (unknown.length > 0) throw new CliError(`--only: unknown config ${unknown.join(', ')}; choose from ${BENCH_CONFIGS.map((c) => c.name).join(', ')}`);
      const result = await benchModel.run({ backend, configs: BENCH_CONFIGS.filter((c) => names.includes(c.name)), steps: o.steps, warmup: o.warmup, transposedCopies: o.transposedCopies }, { log });
      const report = await benchModel.report(result);
      process.stdout.write(report.text!);
      printResult(report.json);
    });
}
