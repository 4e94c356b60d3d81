// metrics: the five E2E metrics of a hypothesis file against grouped references.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { computeE2EMetrics, readGroupedRefs, readHyps } from '@splitlora/metrics';
import { CliError, printResult } from '../output';

async function read(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read ${what} file ${path}`);
  }
}

export function metricsCommand(): Command {
  return new Command('metrics')
    .description('BLEU, NIST, METEOR, ROUGE_L and CIDEr as the official E2E scorer computes them')
    .requiredOption('--refs <file>', 'references: one group per hypothesis, groups separated by blank lines')
    .requiredOption('--hyps <file>', 'hypotheses: one per line')
    .action(async (o: { refs: string; hyps: string }) => {
      const refs = readGroupedRefs(await read(o.refs, 'references'));
      const hyps = readHyps(await read(o.hyps, 'hypotheses'));
      printResult(computeE2EMetrics(refs, hyps));
    });
}
