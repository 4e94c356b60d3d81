// bench-model: LoRA training throughput per model size on the tfjs backend (see @splitlora/lab bench-model.ts).
import { Command, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { DEFAULT_LORA } from '@splitlora/model';
import { BENCH_CONFIGS, MATMUL, benchConfig, benchTables, matmulGflops, type BenchModelResult } from '@splitlora/lab';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';

interface BenchOptions {
  backend: string;
  steps: number;
  warmup: number;
  only?: string;
  transposedCopies: 'auto' | 'on' | 'off';
}

export function benchModelCommand(): Command {
  return new Command('bench-model')
    .description('LoRA training throughput (forward, backward, AdamW) for gpt2-, nano- and mini-sized models on the tfjs backend, with a time breakdown')
    .addOption(backendOption())
    .option('--steps <n>', 'timed steps per measurement (the median is reported)', intAtLeast(1), 3)
    .option('--warmup <n>', 'untimed steps before each measurement', intAtLeast(0), 1)
    .option('--only <names>', `comma-separated subset of ${BENCH_CONFIGS.map((c) => c.name).join(',')} (${BENCH_CONFIGS.filter((c) => c.optIn).map((c) => c.name).join(', ')} only when named)`)
    .addOption(new Option('--transposed-copies <mode>', 'keep transposed copies of the frozen weights (auto: on wasm while they fit)').choices(['auto', 'on', 'off']).default('auto'))
    .action(async (o: BenchOptions) => {
      const backend = await selectNodeBackend(o.backend, log);
      const names = o.only?.split(',').map((s) => s.trim()) ?? BENCH_CONFIGS.filter((c) => !c.optIn).map((c) => c.name);
      const unknown = names.filter((n) => !BENCH_CONFIGS.some((c) => c.name === n));
      if (unknown.length > 0) throw new CliError(`--only: unknown config ${unknown.join(', ')}; choose from ${BENCH_CONFIGS.map((c) => c.name).join(', ')}`);
      const configs = BENCH_CONFIGS.filter((c) => names.includes(c.name));
      if (backend === 'cpu' && names.some((n) => n.startsWith('gpt2'))) log('bench: warning: the cpu backend runs at ≈1 GFLOP/s; the gpt2 config takes minutes per step (try --backend wasm or --only nano,mini)');
      const matmulRate = await matmulGflops();
      log(`bench: plain matmul ${MATMUL[0]}×${MATMUL[1]} · ${MATMUL[1]}×${MATMUL[2]}: ${matmulRate.toFixed(2)} GFLOP/s`);
      const results: BenchModelResult[] = [];
      const transposedCopies = o.transposedCopies === 'auto' ? 'auto' : o.transposedCopies === 'on';
      for (const c of configs) results.push(await benchConfig(c, o.warmup, o.steps, matmulRate, { transposedCopies }));
      process.stdout.write(`backend ${backend}; LoRA r=${DEFAULT_LORA.r} on ${DEFAULT_LORA.targets.join(',')}, label smoothing 0.1; the loss covers 'loss rows' of B·T (the rest is prompt)\n\n${benchTables(results, matmulRate)}\n`);
      printResult({ backend, matmulGflops: matmulRate, steps: o.steps, warmup: o.warmup, transposedCopies: o.transposedCopies, configs: results });
    });
}
