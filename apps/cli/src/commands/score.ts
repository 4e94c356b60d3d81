// score: token-weighted mean NLL (no label smoothing) of every completion token of a data file.
import { Command, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { DATA_FORMATS, DataFormatError, encodeExamples, makeBatch, type EncodedExample } from '@splitlora/data';
import type { FullModel } from '@splitlora/model';
// TODO(lead): export readDataFile as '@splitlora/data/node' (packages/data/package.json has only ".").
import { readDataFile } from '../../../../packages/data/src/files-node';
import { loadModel } from '@splitlora/lab';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';
import { progressBar } from '../progress';

export interface ScoreResult {
  examples: number;
  tokens: number;
  meanNll: number;
  perplexity: number;
}

/** Σ NLL / Σ tokens over consecutive batches (each trimmed to its longest sequence). */
export async function scoreExamples(model: FullModel, examples: readonly EncodedExample[], batchSize: number, onBatch?: (done: number) => void): Promise<ScoreResult> {
  let nll = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = makeBatch(examples.slice(i, i + batchSize), { maxLen: model.config.nPositions });
    const r = await model.nll(batch);
    nll += r.nll;
    tokens += r.count;
    onBatch?.(Math.min(i + batchSize, examples.length));
  }
  const meanNll = tokens > 0 ? nll / tokens : NaN;
  return { examples: examples.length, tokens, meanNll, perplexity: Math.exp(meanNll) };
}

interface ScoreOptions {
  model?: string;
  adapter?: string;
  data: string;
  format: (typeof DATA_FORMATS)[number];
  limit?: number;
  batch: number;
  skipBad?: boolean;
  backend: string;
}

export function scoreCommand(): Command {
  return new Command('score')
    .description('mean NLL and perplexity of the completion tokens of a data file (no label smoothing)')
    .option('--model <dir|hub-id>', 'base model: a directory with config.json + model.safetensors, or a hub id (default: the shipped pretrained default-restaurants; default-nano: a random nano)')
    .option('--adapter <dir>', 'PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)')
    .requiredOption('--data <file>', 'data file')
    .addOption(new Option('--format <format>', 'data format: e2e = lora-format "MR||ref" lines; csv = official E2E CSV; jsonl = {context|prompt, completion}; text = one example per line').choices(DATA_FORMATS).default('auto'))
    .option('--limit <n>', 'score only the first n examples', intAtLeast(1))
    .option('--batch <n>', 'examples per forward pass', intAtLeast(1), 8)
    .option('--skip-bad', 'skip malformed lines (and count them) instead of stopping at the first')
    .addOption(backendOption())
    .action(async (o: ScoreOptions) => {
      await selectNodeBackend(o.backend, log);
      const { examples: parsed, skipped } = await readDataFile(o.data, o.format, { skipBad: o.skipBad === true }).catch((e) => {
        throw e instanceof DataFormatError ? new CliError(e.message.replace('pass skipBad', 'pass --skip-bad')) : e;
      });
      if (skipped > 0) log(`score: skipped ${skipped} malformed lines of ${o.data}`);
      if (parsed.length === 0) throw new CliError(`no examples in ${o.data}`);
      const chosen = parsed.slice(0, o.limit ?? parsed.length);
      const loaded = await loadModel(o.model, o.adapter);
      try {
        const encoded = encodeExamples(chosen);
        const bar = progressBar(encoded.length, 'score [{bar}] {value}/{total} examples | ETA {eta_formatted}');
        const result = await scoreExamples(loaded.model, encoded, o.batch, (done) => bar.update(done)).finally(() => bar.stop());
        log(`score: ${result.examples} examples, ${result.tokens} completion tokens, mean NLL ${result.meanNll.toFixed(4)}, perplexity ${result.perplexity.toFixed(2)}`);
        printResult(result);
      } finally {
        loaded.dispose();
      }
    });
}
