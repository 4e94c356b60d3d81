// bench-split: where a split step's time goes, wire formats, and server throughput (@splitlora/lab bench-split.ts).
import { Command } from 'commander';
import { benchSplit } from '@splitlora/lab';
import { addEngineOptions, backendOption, engineFromFlags, type EngineFlags } from '../options';
import { log, printResult } from '../output';

export function benchSplitCommand(): Command {
  return addEngineOptions(new Command(benchSplit.name), 'tfjs')
    .description(benchSplit.description)
    .addOption(backendOption())
    .option('--quick', 'smaller and fewer iterations')
    .action(async (o: EngineFlags & { backend: string; quick?: boolean }) => {
      const engine = await engineFromFlags(o, log);
      const result = await benchSplit.run({ backend: o.backend, quick: o.quick, engine }, { log });
      printResult((await benchSplit.report(result)).json);
    });
}
