// bench-server: the real server at real size through its compute worker (@splitlora/lab bench-server.ts).
import { Command } from 'commander';
import { benchServer, resolveModel } from '@splitlora/lab';
import { addEngineOptions, backendOption, engineFromFlags, intAtLeast, type EngineFlags } from '../options';
import { log, printResult } from '../output';

interface BenchServerFlags extends EngineFlags { model?: string; cut?: number; batch: number; seqLen: number; steps: number; clients: number; backend: string; evaluate: number }

export function benchServerCommand(): Command {
  const d = benchServer.defaults;
  return addEngineOptions(new Command(benchServer.name))
    .description(benchServer.description)
    .option('--model <dir|hub id>', 'model directory (e.g. from init-model --preset gpt2-medium)')
    .option('--cut <k>', 'client blocks (default: a quarter of the blocks)', intAtLeast(1))
    .option('--batch <b>', 'rows per client step', intAtLeast(1), d.batch)
    .option('--seq-len <t>', 'tokens per row', intAtLeast(2), d.seqLen)
    .option('--steps <n>', 'steps per client', intAtLeast(1), d.steps)
    .option('--clients <n>', 'concurrent clients', intAtLeast(1), d.clients)
    .option('--evaluate <n>', 'also run a held-out evaluation of n examples after the steps (0: none)', intAtLeast(0), d.evaluate)
    .addOption(backendOption())
    .action(async (o: BenchServerFlags) => {
      const engine = await engineFromFlags(o, log);
      const modelDir = await resolveModel(o.model, { log });
      const result = await benchServer.run({ modelDir, engine, backend: o.backend, cut: o.cut, batch: o.batch, seqLen: o.seqLen, steps: o.steps, clients: o.clients, evaluate: o.evaluate }, { log });
      printResult((await benchServer.report(result)).json);
    });
}
