// bench-split: where a split step's time goes, wire formats, and server throughput (see bench-split.ts).
import { Command } from 'commander';
import { runSplitBench } from '../bench-split';
import { backendOption } from '../options';
import { log, printResult } from '../output';

export function benchSplitCommand(): Command {
  return new Command('bench-split')
    .description('split step cost (client, codec+transport, server) vs unsplit, wire formats vs float32, and server throughput with 1-8 clients')
    .addOption(backendOption())
    .option('--quick', 'smaller and fewer iterations')
    .action(async (o: { backend: string; quick?: boolean }) => {
      printResult(await runSplitBench({ backend: o.backend, quick: o.quick, log }));
    });
}
