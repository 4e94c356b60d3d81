// generate: decode a completion for one prompt, greedily or with beam search, using the KV cache.
import { Command } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { EOS, decodeTokens, encodeText } from '@splitlora/data';
import { E2E_BEAM, beamSearch, greedyDecode } from '@splitlora/model';
import { loadModel } from '@splitlora/lab';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';

/** Stop on <|endoftext|> or "\n\n", as SplitLoRA's evaluation does. */
export const STOP_TOKENS = E2E_BEAM.stopTokens;

interface GenerateOptions {
  model?: string;
  adapter?: string;
  prompt: string;
  maxNewTokens: number;
  beam?: number;
  raw?: boolean;
  backend: string;
}

/**
 * Prompt ids. By default the prompt is a training context: BPE(prompt) + [EOS], the separator
 * SplitLoRA puts between an MR and its reference; --raw feeds BPE(prompt) alone (plain LM use).
 */
export function promptIds(prompt: string, raw: boolean): number[] {
  const ids = encodeText(prompt);
  return raw ? ids : [...ids, EOS];
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('generate a completion for a prompt (greedy with a KV cache, or beam search with --beam)')
    .option('--model <dir|hub-id>', 'base model directory or hub id (default: the shipped pretrained default-restaurants; default-nano: a random nano)')
    .option('--adapter <dir>', 'PEFT LoRA adapter directory')
    .requiredOption('--prompt <text>', 'prompt text, e.g. an E2E MR "name : The Eagle | Type : pub"')
    .option('--max-new-tokens <n>', 'most tokens to generate', intAtLeast(1), 64)
    .option('--beam <k>', 'beam search with k beams (length penalty 0.8, no repeated 4-grams) instead of greedy', intAtLeast(1))
    .option('--raw', 'encode the prompt alone, without the <|endoftext|> that ends a training context')
    .addOption(backendOption())
    .action(async (o: GenerateOptions) => {
      await selectNodeBackend(o.backend, log);
      const loaded = await loadModel(o.model, o.adapter);
      try {
        const prompt = promptIds(o.prompt, o.raw === true);
        const room = loaded.config.nPositions - prompt.length;
        if (room < 1) throw new CliError(`the prompt is ${prompt.length} tokens; the model's context is ${loaded.config.nPositions}, so nothing can be generated`);
        const maxNewTokens = Math.min(o.maxNewTokens, room);
        if (maxNewTokens < o.maxNewTokens) log(`generate: only ${room} positions left after the prompt; generating at most ${room} tokens`);
        const t0 = performance.now();
        const tokens = o.beam
          ? await beamSearch(loaded.model, prompt, { ...E2E_BEAM, beams: o.beam, maxNewTokens })
          : await greedyDecode(loaded.model, prompt, { maxNewTokens, stopTokens: STOP_TOKENS });
        const stopped = tokens.length > 0 && STOP_TOKENS.includes(tokens[tokens.length - 1]);
        const completion = decodeTokens(stopped ? tokens.slice(0, -1) : tokens);
        const seconds = (performance.now() - t0) / 1000;
        log(completion);
        log(`generate: ${tokens.length} tokens in ${seconds.toFixed(2)} s (${(tokens.length / seconds).toFixed(1)} tokens/s)${stopped ? ', stopped at a stop token' : ''}`);
        printResult({ prompt: o.prompt, completion, tokens, stopped });
      } finally {
        loaded.dispose();
      }
    });
}
