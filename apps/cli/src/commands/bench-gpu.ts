// bench-gpu: the GPU check (gpt2 cases of bench-model and bench-split on webgpu and tensorflow-gpu; @splitlora/lab bench-gpu.ts).
import { Command, Option } from 'commander';
// From its own module, not the index: the GPU check bundle (bench-gpu-main.ts) takes this command alone.
import { GPU_CASES, benchGpu, runGpuCaseChild } from '@splitlora/lab/bench-gpu';
import { intAtLeast } from '../options';
import { log, printResult } from '../output';

interface BenchGpuOptions {
  backends: string;
  quick?: boolean;
  budget: number;
  only?: string;
  case?: string;
}

/**
 * `childPrefix`: the arguments (after the node binary) that start this command again, for the
 * per-case child processes. The CLI's default is this script and the command name; a bundle that
 * runs the command alone passes its own path only.
 */
export function benchGpuCommand(childPrefix: string[] = [process.argv[1], 'bench-gpu']): Command {
  const d = benchGpu.defaults;
  return new Command(benchGpu.name)
    .description(benchGpu.description)
    .option('--backends <list>', 'comma-separated backends to measure (one not installed is reported as skipped)', d.backends!.join(','))
    .option('--quick', 'tiny shapes (2 layers × 16, vocab 50257): checks the script end to end, e.g. on SwiftShader, in a few minutes')
    .option('--budget <seconds>', 'seconds for all cases together; each case gets a weighted share of what is left and is killed past it', intAtLeast(30), d.budgetS)
    .option('--only <cases>', `comma-separated subset of ${GPU_CASES.map((c) => c.name).join(',')}`)
    .addOption(new Option('--case <name>', 'internal: run one case in this process (the child)').hideHelp())
    .action(async (o: BenchGpuOptions) => {
      const backends = o.backends.split(',').map((s) => s.trim()).filter(Boolean);
      if (o.case) {
        if (backends.length !== 1) throw new Error('bench-gpu --case takes exactly one backend in --backends');
        printResult(await runGpuCaseChild(o.case, backends[0], o.quick ?? false, log));
        // Dawn's instance keeps the event loop alive; the parent waits for this process to end.
        process.exit(0);
      }
      const cases = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
      const result = await benchGpu.run({ backends, quick: o.quick ?? false, budgetS: o.budget, childPrefix, cases }, { log });
      printResult((await benchGpu.report(result)).json);
    });
}
