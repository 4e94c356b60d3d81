// pretrain: full-parameter training of a GPT-2 on text files (the training itself is
// @splitlora/model's Pretrainer and pretrainLoop; this file is flags, data, progress and files).
import { writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { BatchIterator, DATA_FORMATS, DataFormatError, encodeExamples, fingerprintExamples, makeBatch, type BatchIteratorState, type EncodedExample } from '@splitlora/data';
import { readDataFile } from '@splitlora/data/node';
import { PRETRAIN_DEFAULTS, Pretrainer, initGpt2Weights, pretrainLoop, type Dtype, type GPT2Config, type PretrainSettings, type TensorRecord, type TokenBatch } from '@splitlora/model';
import { loadGpt2Dir, loadPretrainCheckpoint, saveGpt2Dir, savePretrainCheckpoint } from '@splitlora/model/node';
import { countParams } from '@splitlora/lab';
import { backendOption, intAtLeast, positiveNumber } from '../options';
import { CliError, log, printResult } from '../output';
import { progressBar } from '../progress';
import { configFromOptions } from './init-model';

interface PretrainFlags {
  model?: string;
  preset?: string;
  layers?: number;
  embd?: number;
  heads?: number;
  positions?: number;
  data: string[];
  format: (typeof DATA_FORMATS)[number];
  heldout?: string;
  heldoutExamples: number;
  steps: number;
  batch: number;
  seqLen?: number;
  lr: number;
  warmup: number;
  schedule: 'cosine' | 'linear';
  minLrRatio: number;
  weightDecay: number;
  clip: number;
  evalEvery: number;
  checkpointEvery: number;
  checkpointDir?: string;
  stopAt?: number;
  out: string;
  resume?: boolean;
  seed: number;
  dtype: Dtype;
  backend: string;
}

/** Written next to the final model: how it was made. */
export const PRETRAIN_RECORD_FILE = 'pretrain.json';

async function readExamples(files: string[], format: PretrainFlags['format']): Promise<EncodedExample[]> {
  const out: EncodedExample[] = [];
  for (const f of files) {
    const { examples } = await readDataFile(f, format).catch((e) => {
      throw e instanceof DataFormatError ? new CliError(e.message.replace(' (fix or delete the line, or pass skipBad to skip bad lines)', ' (fix or delete the line)')) : e;
    });
    if (examples.length === 0) throw new CliError(`no examples in ${f}`);
    out.push(...encodeExamples(examples));
  }
  return out;
}

function batchesOf(examples: readonly EncodedExample[], size: number, maxLen: number): TokenBatch[] {
  const out: TokenBatch[] = [];
  for (let i = 0; i < examples.length; i += size) out.push(makeBatch(examples.slice(i, i + size), { maxLen }));
  return out;
}

/** The settings a resumed run must share with the run that wrote the checkpoint. */
function runIdentity(o: PretrainFlags, config: GPT2Config, settings: PretrainSettings, seqLen: number, dataPrint: string): Record<string, unknown> {
  return { config, settings, batch: o.batch, seqLen, seed: o.seed, data: dataPrint };
}

export function pretrainCommand(): Command {
  const d = PRETRAIN_DEFAULTS;
  return new Command('pretrain')
    .description('train every parameter of a GPT-2 (wte tied to the head, wpe, blocks, LayerNorms) on text; writes a Hugging Face-format model')
    .option('--model <dir>', 'start from this model directory (config.json + model.safetensors) instead of a random init')
    .addOption(new Option('--preset <name>', 'architecture of a random init; --layers/--embd/--heads/--positions override its fields').choices(['nano', 'micro', 'mini', 'gpt2', 'gpt2-medium']))
    .option('--layers <n>', 'transformer blocks (n_layer)', intAtLeast(1))
    .option('--embd <n>', 'width (n_embd), divisible by --heads', intAtLeast(1))
    .option('--heads <n>', 'attention heads (n_head)', intAtLeast(1))
    .option('--positions <n>', 'context length (n_positions) of a random init', intAtLeast(2))
    .requiredOption('--data <files...>', 'training data files (text: one example per line, the loss on all of it)')
    .addOption(new Option('--format <format>', 'data format (as in score)').choices(DATA_FORMATS).default('auto'))
    .option('--heldout <file>', 'held-out data file (default: the last --heldout-examples examples of --data, left out of training)')
    .option('--heldout-examples <n>', 'examples held out of --data when there is no --heldout file', intAtLeast(1), 200)
    .requiredOption('--steps <n>', 'optimizer steps (the schedule decays to the last one)', intAtLeast(1))
    .option('--batch <n>', 'sequences per step', intAtLeast(1), 16)
    .option('--seq-len <n>', 'longest sequence in tokens (default: the model context)', intAtLeast(2))
    .option('--lr <x>', 'peak learning rate', positiveNumber, d.lr)
    .option('--warmup <n>', 'linear warm-up steps', intAtLeast(0), d.warmup)
    .addOption(new Option('--schedule <kind>', 'decay after warm-up').choices(['cosine', 'linear']).default(d.schedule))
    .option('--min-lr-ratio <x>', 'the schedule ends at lr × this', (v) => { const x = Number(v); if (!(x >= 0 && x <= 1)) throw new CliError(`--min-lr-ratio: expected a number in [0, 1], got "${v}"`); return x; }, d.minLrRatio)
    .option('--weight-decay <x>', 'decoupled AdamW weight decay (matrices only)', (v) => { const x = Number(v); if (!(x >= 0)) throw new CliError(`--weight-decay: expected a number >= 0, got "${v}"`); return x; }, d.weightDecay)
    .option('--clip <x>', 'global gradient-norm clip (0 = off)', (v) => { const x = Number(v); if (!(x >= 0)) throw new CliError(`--clip: expected a number >= 0, got "${v}"`); return x; }, d.clip)
    .option('--eval-every <n>', 'held-out loss every n steps (0: only at the end)', intAtLeast(0), 100)
    .option('--checkpoint-every <n>', 'checkpoint every n steps (0: only at the end)', intAtLeast(0), 100)
    .option('--checkpoint-dir <dir>', 'where checkpoints go (default: <out>/checkpoint)')
    .option('--stop-at <step>', 'stop after this step, leaving a checkpoint to --resume (the schedule still ends at --steps)', intAtLeast(1))
    .requiredOption('--out <dir>', 'output model directory (config.json + model.safetensors + pretrain.json)')
    .option('--resume', 'continue from the checkpoint in --checkpoint-dir (bit-exactly: same weights, moments, step and data order)')
    .option('--seed <n>', 'seed of the init and of the data order', intAtLeast(0), 0)
    .addOption(new Option('--dtype <dtype>', 'storage dtype of the final model').choices(['F32', 'F16', 'BF16']).default('F32'))
    .addOption(backendOption())
    .action(async (o: PretrainFlags) => {
      if (o.model !== undefined && (o.preset !== undefined || o.layers !== undefined || o.embd !== undefined || o.heads !== undefined || o.positions !== undefined)) {
        throw new CliError('pass either --model DIR or an architecture (--preset, --layers/--embd/--heads), not both');
      }
      if (o.model === undefined && o.preset === undefined && (o.layers === undefined || o.embd === undefined || o.heads === undefined)) {
        throw new CliError('pretrain needs --model DIR, --preset NAME, or all of --layers, --embd and --heads');
      }
      const out = resolve(o.out);
      const ckptDir = resolve(o.checkpointDir ?? join(out, 'checkpoint'));
      const backend = await selectNodeBackend(o.backend, log);

      let config: GPT2Config;
      let initial: TensorRecord;
      if (o.model !== undefined) {
        ({ config, weights: initial } = await loadGpt2Dir(o.model));
      } else {
        config = configFromOptions({ preset: o.preset, layers: o.layers, embd: o.embd, heads: o.heads, positions: o.positions });
        initial = {};
      }
      const seqLen = o.seqLen ?? config.nPositions;
      if (seqLen > config.nPositions) throw new CliError(`--seq-len ${seqLen} exceeds the model's context of ${config.nPositions} tokens`);

      const all = await readExamples(o.data, o.format);
      let train = all;
      let heldout: EncodedExample[];
      if (o.heldout !== undefined) heldout = await readExamples([o.heldout], o.format);
      else {
        if (all.length <= o.heldoutExamples) throw new CliError(`--data has ${all.length} examples, too few to hold out ${o.heldoutExamples}; lower --heldout-examples or pass --heldout FILE`);
        train = all.slice(0, all.length - o.heldoutExamples);
        heldout = all.slice(all.length - o.heldoutExamples);
      }
      const settings: PretrainSettings = { ...d, steps: o.steps, lr: o.lr, warmup: o.warmup, schedule: o.schedule, minLrRatio: o.minLrRatio, weightDecay: o.weightDecay, clip: o.clip };
      const identity = runIdentity(o, config, settings, seqLen, fingerprintExamples(train));

      let iterState: BatchIteratorState | { seed: number } = { seed: o.seed };
      let trainer: Pretrainer;
      const existing = await loadPretrainCheckpoint(ckptDir);
      if (o.resume) {
        if (!existing) throw new CliError(`--resume: no checkpoint in ${ckptDir}; run without --resume to start`);
        const saved = existing.state.identity;
        if (JSON.stringify(saved) !== JSON.stringify(identity)) {
          throw new CliError(`--resume: the checkpoint in ${ckptDir} was made with other settings or data (saved ${JSON.stringify(saved)}, now ${JSON.stringify(identity)}); resume with the same flags and files`);
        }
        trainer = new Pretrainer(existing.config, existing.weights, settings);
        trainer.loadOptimizerState(existing.optimizer);
        iterState = existing.state.data as BatchIteratorState;
        log(`pretrain: resuming ${ckptDir} at step ${trainer.step} of ${o.steps}`);
      } else {
        if (existing) throw new CliError(`a checkpoint already exists in ${ckptDir}; pass --resume to continue it, or choose another --out / --checkpoint-dir`);
        if (o.model === undefined) initial = initGpt2Weights(config, o.seed);
        trainer = new Pretrainer(config, initial, settings);
      }

      try {
        const order = new BatchIterator(train.length, o.batch, iterState);
        const data = {
          next: () => makeBatch(order.next().indices.map((i) => train[i]), { maxLen: seqLen }),
          state: () => order.state,
        };
        const params = countParams(await trainer.weights());
        log(`pretrain: ${config.nLayer} layers × d=${config.nEmbd}, ${config.nHead} heads, vocab ${config.vocabSize} (${(params / 1e6).toFixed(2)} M parameters) on ${backend}; ${train.length} training and ${heldout.length} held-out examples; ${o.steps} steps of ${o.batch} × ≤${seqLen} tokens`);
        const heldoutBatches = batchesOf(heldout, 16, seqLen);
        const until = Math.min(o.stopAt ?? o.steps, o.steps);
        const bar = progressBar(until, 'pretrain [{bar}] {value}/{total} | loss {loss} | held-out {heldout} | {tps} tok/s | lr {lr} | ETA {eta_formatted}');
        let lastHeldout = '–';
        const result = await pretrainLoop(trainer, data, {
          until,
          heldout: heldoutBatches,
          evalEvery: o.evalEvery,
          checkpointEvery: o.checkpointEvery,
          checkpoint: async () => {
            const weights = await trainer.weights();
            await savePretrainCheckpoint(ckptDir, { config, weights, optimizer: await trainer.optimizerState(), state: { identity, data: data.state() } });
          },
          onStep: (p) => {
            if (p.heldoutNll !== undefined) {
              lastHeldout = p.heldoutNll.toFixed(3);
              // On a terminal the bar shows it; piped stderr gets a line per evaluation.
              if (!process.stderr.isTTY) log(`pretrain: step ${p.step}/${o.steps} loss ${p.loss.toFixed(3)} held-out ${lastHeldout} (${p.tokensPerSecond.toFixed(0)} tok/s)`);
            }
            bar.update(p.step, { loss: p.loss.toFixed(3), heldout: lastHeldout, tps: p.tokensPerSecond.toFixed(0), lr: p.lr.toExponential(2) });
          },
        }).finally(() => bar.stop());
        const done = result.step >= o.steps;
        if (done) {
          await saveGpt2Dir(out, config, await trainer.weights(), o.dtype);
          const record = { steps: o.steps, batch: o.batch, seqLen, seed: o.seed, settings, data: o.data.map((f) => basename(f)), trainExamples: train.length, heldoutExamples: heldout.length, trainLoss: result.trainLoss, heldoutNll: result.heldoutNll, dtype: o.dtype };
          await writeFile(join(out, PRETRAIN_RECORD_FILE), JSON.stringify(record, null, 2) + '\n');
          log(`pretrain: wrote ${out} (${o.dtype}); held-out NLL ${result.heldoutNll.toFixed(4)} (F32 weights)`);
        } else log(`pretrain: stopped at step ${result.step} of ${o.steps}; continue with the same flags and --resume`);
        printResult({ out: done ? out : null, checkpoint: ckptDir, step: result.step, steps: o.steps, params, trainLoss: result.trainLoss, heldoutNll: result.heldoutNll, tokens: result.tokens, seconds: result.seconds, tokensPerSecond: result.tokens / result.seconds });
      } finally {
        trainer.dispose();
      }
    });
}

