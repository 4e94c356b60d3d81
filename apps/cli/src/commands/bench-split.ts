// bench-split: where a split step's time goes, wire formats, and server throughput (see bench-split.ts).
import { Command } from 'commander';
import { runSplitBench } from '@splitlora/lab';
import { addEngineOptions, backendOption, engineFromFlags, type EngineFlags } from '../options';
import { log, printResult } from '../output';

export function benchSplitCommand(): Command {
  return addEngineOptions(new Command('bench-split'), 'tfjs')
    .description('split step cost (client, codec+transport, server) vs unsplit, wire formats vs float32, and server throughput with 1-8 clients')
    .addOption(backendOption())
    .option('--quick', 'smaller and fewer iterations')
    .action(async (o: EngineFlags & { backend: string; quick?: boolean }) => {
      const engine = await engineFromFlags(o, log);
      printResult(await runSplitBench({ backend: o.backend, quick: o.quick, log, engine }));
    });
}
