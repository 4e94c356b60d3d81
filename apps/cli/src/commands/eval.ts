// eval: the E2E generation evaluation of SplitLoRA/LoRA. One output per unique MR (beam search),
// the files the official scorer reads, and the five E2E metrics.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { DATA_FORMATS, DataFormatError } from '@splitlora/data';
import { DECODE_BATCH, E2E_BEAM } from '@splitlora/model';
import { evaluateE2E, formatGroupedRefs, formatLines } from '@splitlora/evaluation';
// TODO(lead): export readDataFile as '@splitlora/data/node' (as in score.ts).
import { readDataFile } from '../../../../packages/data/src/files-node';
import { loadModel } from '@splitlora/lab';
import { backendOption, intAtLeast } from '../options';
import { CliError, log, printResult } from '../output';
import { progressBar } from '../progress';

interface EvalOptions {
  model?: string;
  adapter?: string;
  data: string;
  format: (typeof DATA_FORMATS)[number];
  out: string;
  limit?: number;
  beam: number;
  maxNewTokens: number;
  batch: number;
  skipBad?: boolean;
  backend: string;
}

/** The output folder, created if missing; an existing file there is an error. */
async function prepareOut(out: string): Promise<string> {
  const dir = resolve(out);
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new CliError(`--out ${out} is a file; pass a directory (it is created if missing)`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function etaText(t0: number, done: number, total: number): string {
  if (done === total) return '';
  const left = ((performance.now() - t0) / 1000 / done) * (total - done);
  return `, ETA ${left < 90 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`}`;
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('E2E evaluation as SplitLoRA/LoRA do it: beam-decode one output per unique MR, write the official scorer\'s files, print BLEU, NIST, METEOR, ROUGE_L and CIDEr')
    .option('--model <dir|hub-id>', 'base model: a directory with config.json + model.safetensors, or a hub id (default: the shipped pretrained default-restaurants; default-nano: a random nano)')
    .option('--adapter <dir>', 'PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)')
    .requiredOption('--data <file>', 'E2E test data: "MR||ref" lines (lora-format test.txt), the official CSV, or JSONL {context, completion}')
    .addOption(new Option('--format <format>', 'data format (text is refused: eval needs MR→reference pairs)').choices(DATA_FORMATS).default('auto'))
    .requiredOption('--out <dir>', 'directory for predictions.txt, references.txt and mrs.txt (created if missing)')
    .option('--limit <n>', 'evaluate only the first n unique MRs (each with all its references)', intAtLeast(1))
    .option('--beam <k>', 'beam width (1 = greedy with the n-gram block)', intAtLeast(1), E2E_BEAM.beams)
    .option('--max-new-tokens <n>', 'most tokens generated per MR', intAtLeast(1), E2E_BEAM.maxNewTokens)
    .option('--batch <n>', 'MRs decoded together, those of equal token length (the outputs do not depend on it)', intAtLeast(1), DECODE_BATCH)
    .option('--skip-bad', 'skip malformed lines (and count them) instead of stopping at the first')
    .addOption(backendOption())
    .action(async (o: EvalOptions) => {
      const { examples, skipped } = await readDataFile(o.data, o.format, { skipBad: o.skipBad === true }).catch((e) => {
        throw e instanceof DataFormatError ? new CliError(e.message.replace('pass skipBad', 'pass --skip-bad')) : e;
      });
      if (skipped > 0) log(`eval: skipped ${skipped} malformed lines of ${o.data}`);
      if (examples.length === 0) throw new CliError(`no examples in ${o.data}`);
      if (examples.some((e) => e.context === '')) {
        throw new CliError(`${o.data} has examples without an MR (read as plain text?): eval needs "MR||ref" lines, the E2E CSV or JSONL with a context; pass --format e2e, csv or jsonl`);
      }
      const outDir = await prepareOut(o.out);
      await selectNodeBackend(o.backend, log);
      const loaded = await loadModel(o.model, o.adapter);
      try {
        const mrCount = Math.min(new Set(examples.map((e) => e.context)).size, o.limit ?? Infinity);
        log(`eval: ${mrCount} MRs, beam ${o.beam}, length penalty ${E2E_BEAM.lengthPenalty}, no-repeat ${E2E_BEAM.noRepeatNgram}-grams, at most ${o.maxNewTokens} new tokens`);
        const bar = progressBar(mrCount, 'eval [{bar}] {value}/{total} MRs | {duration_formatted} elapsed | ETA {eta_formatted}');
        const t0 = performance.now();
        const every = Math.max(1, Math.round(mrCount / 10));
        let logged = 0;
        const r = await evaluateE2E(loaded.model, examples, {
          beams: o.beam,
          maxNewTokens: o.maxNewTokens,
          batchSize: o.batch,
          limit: o.limit,
          onProgress: (done, total) => {
            bar.update(done);
            // Without a terminal (a log file, CI) there is no bar: log about every tenth instead
            // (progress comes a batch at a time, so on crossing each tenth).
            if (!process.stderr.isTTY && (Math.floor(done / every) > Math.floor(logged / every) || done === total)) log(`eval: ${done}/${total} MRs${etaText(t0, done, total)}`);
            logged = done;
          },
        }).finally(() => bar.stop());
        const seconds = (performance.now() - t0) / 1000;
        await Promise.all([
          writeFile(join(outDir, 'predictions.txt'), formatLines(r.predictions)),
          writeFile(join(outDir, 'references.txt'), formatGroupedRefs(r.refs)),
          writeFile(join(outDir, 'mrs.txt'), formatLines(r.mrs)),
        ]);
        const refCount = r.refs.reduce((n, g) => n + g.length, 0);
        if (r.mrs.length === 1 && refCount > 1) {
          log('eval: warning: with a single MR, the official scorer reads references.txt as one reference per output; evaluate 2 or more MRs to score it there');
        }
        log(`eval: ${r.mrs.length} MRs (${refCount} references) in ${seconds.toFixed(1)} s (${(seconds / r.mrs.length).toFixed(2)} s per MR); files in ${outDir}`);
        const m = r.metrics;
        log(`eval: BLEU ${m.BLEU.toFixed(4)}  NIST ${m.NIST.toFixed(4)}  METEOR ${m.METEOR.toFixed(4)}  ROUGE_L ${m.ROUGE_L.toFixed(4)}  CIDEr ${m.CIDEr.toFixed(4)}`);
        printResult({ ...m, examples: refCount, mrs: r.mrs.length, out: outDir });
      } finally {
        loaded.dispose();
      }
    });
}
