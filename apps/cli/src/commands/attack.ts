// attack: how much of a volunteer's text a curious server recovers from the cut activations
// alone (greedy activation inversion, @splitlora/privacy). The last stdout line is
// {cut, examples, tokens, recovered, recoveryRate, completionRecoveryRate, noise, clip, secondsPerExample, …}.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { noiseKeyFromSeed } from '@splitlora/client';
import { DATA_FORMATS, DataFormatError, encodeExamples, syntheticE2E, type TextExample } from '@splitlora/data';
import { readDataFile } from '@splitlora/data/node';
import { DEFAULT_LORA, clientTensorNames, defaultCut, disposeWeights, toWeights, type LoraConfig, type TensorRecord } from '@splitlora/model';
import { loadAdapterDir, loadGpt2Dir } from '@splitlora/model/node';
import { activationInversion } from '@splitlora/privacy';
import { WIRE_FORMATS, type WireFormat } from '@splitlora/protocol';
import { resolveModel } from '@splitlora/lab';
import { backendOption, intAtLeast, positiveNumber } from '../options';
import { CliError, log, printResult } from '../output';
import { progressBar } from '../progress';

interface AttackFlags {
  model?: string;
  cut?: number;
  data?: string;
  format: (typeof DATA_FORMATS)[number];
  limit: number;
  adapter?: string;
  attackerFresh?: boolean;
  actNoise?: number;
  actClip?: number;
  wire: WireFormat;
  seqLen?: number;
  batch: number;
  seed: number;
  maxCandidates: number;
  shortlist: 'probe' | 'embedding';
  backend: string;
  json?: boolean;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number >= 0, got "${value}"`);
  return n;
}

export function attackCommand(): Command {
  return new Command('attack')
    .description("reconstruct a volunteer's token ids from its cut activations, as a curious server could (greedy inversion with the server's copy of blocks [0, cut))")
    .option('--model <dir|hub-id>', 'base model directory or hub id (default: the shipped pretrained default-restaurants; default-nano: a random nano)')
    .option('--cut <k>', 'client blocks (default a quarter of the blocks, at least 1)', intAtLeast(1))
    .option('--data <file>', "the volunteer's data (default: the built-in synthetic E2E-style set)")
    .addOption(new Option('--format <format>', 'format of --data').choices(DATA_FORMATS).default('auto'))
    .option('--limit <n>', 'attack the first n examples', intAtLeast(1), 8)
    .option('--adapter <dir>', "the client adapter the volunteer runs (PEFT dir; default: the fresh init); the attacker knows it, as the last average")
    .option('--attacker-fresh', 'the attacker assumes the fresh adapter init instead of --adapter')
    .option('--act-noise <s>', 'defence: Gaussian noise of std s on the activations (after clipping)', nonNegative)
    .option('--act-clip <c>', 'defence: clip each activation row to L2 norm c', positiveNumber)
    .addOption(new Option('--wire <format>', 'wire format of the activations').choices(WIRE_FORMATS).default('f16'))
    .option('--seq-len <t>', "longest input per row (default min(128, the model's positions))", intAtLeast(1))
    .option('--batch <b>', 'examples per volunteer step (the dropout masks depend on the row)', intAtLeast(1), 8)
    .option('--seed <n>', 'run seed: synthetic data, adapter init, dropout and noise', intAtLeast(0), 0)
    .option('--max-candidates <n>', 'candidate tokens tried per position at most, in shortlist order', intAtLeast(1), 4096)
    .addOption(new Option('--shortlist <kind>', 'candidate order: probe = a linear probe fitted on random text through the attacker\'s copy; embedding = raw distance to wte + wpe').choices(['probe', 'embedding']).default('probe'))
    .addOption(backendOption())
    .option('--json', 'print the result as one JSON object on the last stdout line')
    .addHelpText('after', '\nExample:\n  splitlora attack --cut 1 --limit 4 --json\n  splitlora attack --model /tmp/gpt2s --cut 3 --limit 2 --act-noise 0.5 --json')
    .action(async (o: AttackFlags) => {
      await selectNodeBackend(o.backend, log);
      const dir = await resolveModel(o.model, { log });
      const adapterPath = o.adapter === undefined ? undefined : resolve(o.adapter);
      if (adapterPath !== undefined && !(await stat(adapterPath).catch(() => undefined))?.isDirectory()) {
        throw new CliError(`adapter directory not found: ${adapterPath} (pass the directory holding adapter_config.json and adapter_model.safetensors)`);
      }
      if (o.attackerFresh && adapterPath === undefined) throw new CliError('--attacker-fresh needs --adapter (without it both sides run the fresh init)');
      const { config } = await loadGpt2Dir(dir, { include: () => false });
      const cut = o.cut ?? defaultCut(config);
      if (cut >= config.nLayer) throw new CliError(`--cut ${cut}: the model has ${config.nLayer} blocks; the client must hold fewer (1..${config.nLayer - 1})`);
      const seqLen = o.seqLen ?? Math.min(128, config.nPositions);
      if (seqLen > config.nPositions) throw new CliError(`--seq-len ${seqLen} exceeds the model's ${config.nPositions} positions`);

      let text: TextExample[];
      if (o.data) {
        const parsed = await readDataFile(o.data, o.format).catch((e) => {
          throw e instanceof DataFormatError ? new CliError(e.message.replace('pass skipBad', 'fix the file')) : e;
        });
        text = parsed.examples;
        if (text.length === 0) throw new CliError(`no examples in ${o.data}`);
      } else {
        text = syntheticE2E({ n: o.limit, seed: o.seed });
      }
      const examples = encodeExamples(text.slice(0, o.limit).map((e) => ({ context: e.context.trim(), completion: e.completion.trim() })));

      let lora: LoraConfig = DEFAULT_LORA;
      let adapter: TensorRecord | undefined;
      if (adapterPath !== undefined) {
        const loaded = await loadAdapterDir(adapterPath);
        lora = loaded.cfg;
        adapter = loaded.lora;
      }
      const host = await loadGpt2Dir(dir, { include: (n) => clientTensorNames(config, cut).includes(n) });
      const weights = toWeights(host.weights);
      log(`attack: model ${dir} (${config.nLayer} layers × d=${config.nEmbd}), cut ${cut}, ${examples.length} examples from ${o.data ?? `the synthetic set (seed ${o.seed})`}, wire ${o.wire}` +
        `${o.actClip !== undefined ? `, clip ${o.actClip}` : ''}${o.actNoise ? `, noise ${o.actNoise}` : ''}; client adapter ${adapterPath ?? 'fresh'}, attacker assumes ${o.attackerFresh || !adapterPath ? 'the fresh init' : 'it'}`);
      const bar = progressBar(examples.length, 'attack [{bar}] {value}/{total} examples | ETA {eta_formatted}');
      try {
        const result = await activationInversion(examples, {
          config, weights, cut, lora, seed: o.seed, volunteerSeed: o.seed, batch: o.batch, seqLen, wire: o.wire,
          clientAdapter: adapter, attackerAdapter: o.attackerFresh ? undefined : adapter,
          actClip: o.actClip, actNoise: o.actNoise, noiseKey: noiseKeyFromSeed(o.seed), maxCandidates: o.maxCandidates, shortlist: o.shortlist,
          onExample: (done) => bar.update(done),
        }).catch((e) => {
          throw e instanceof Error && e.name === 'Error' ? new CliError(e.message) : e;
        }).finally(() => bar.stop());
        log(`attack: recovered ${result.recovered}/${result.tokens} tokens (${(100 * result.recoveryRate).toFixed(1)} %), completion ${(100 * result.completionRecoveryRate).toFixed(1)} %; ${result.candidatesPerToken.toFixed(0)} candidates/token, ${result.secondsPerExample.toFixed(2)} s/example`);
        if (o.json) printResult(result);
        else process.stdout.write(`recovered ${result.recovered} of ${result.tokens} tokens (${(100 * result.recoveryRate).toFixed(1)} %); completion tokens ${(100 * result.completionRecoveryRate).toFixed(1)} %\n`);
      } finally {
        disposeWeights(weights);
      }
    });
}
