// The run options `simulate` and `bench` share (flag names fixed by issue 6), and their
// resolution into a model, training settings and data.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DATA_FORMATS, parsePartitionSpec } from '@splitlora/data';
import { defaultCut, isLoraTarget, type LoraTarget } from '@splitlora/model';
import { WIRE_FORMATS, type WireFormat } from '@splitlora/protocol';
import { loadSimData, type SimData, type SimModel, type TrainSettings } from '@splitlora/lab';
import { addEngineOptions, backendOption, intAtLeast, positiveNumber, type EngineFlags } from './options';
import { CliError } from './output';

export interface RunFlags {
  model?: string;
  data?: string;
  format: (typeof DATA_FORMATS)[number];
  partition: string;
  clients: number;
  cut?: number;
  rank: number;
  alpha: number;
  loraDropout: number;
  targets: string;
  interval: number;
  steps: number;
  batch: number;
  seqLen?: number;
  lr: number;
  labelSmoothing: number;
  wire: WireFormat;
  seed: number;
  labels: 'server' | 'client';
  actClip?: number;
  actNoise?: number;
  examples: number;
  heldout: number;
  evalData?: string;
  evalEvery?: number;
  backend: string;
  json?: boolean;
}

export type RunEngineFlags = RunFlags & EngineFlags;

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError(`expected a number in [0, 1), got "${value}"`);
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number >= 0, got "${value}"`);
  return n;
}

function partitionSpec(value: string): string {
  try {
    parsePartitionSpec(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return value;
}

/** Adds the shared run options to a command. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir|hub-id>', 'base model: a directory with config.json + model.safetensors, or a hub id (default: the shipped pretrained default-restaurants; default-nano: a random nano)')
    .option('--data <file>', 'training data file (default: the built-in synthetic E2E-style set)')
    .addOption(new Option('--format <format>', 'format of --data').choices(DATA_FORMATS).default('auto'))
    .option('--partition <spec>', 'how the pool is split into client shards: iid | attr:SLOT | dirichlet:ALPHA[:SLOT] | contiguous', partitionSpec, 'iid')
    .option('--clients <n>', 'number of clients N', intAtLeast(1), 3)
    .option('--cut <k>', 'client blocks (SplitLoRA; default a quarter of the blocks, at least 1)', intAtLeast(1))
    .option('--rank <r>', 'LoRA rank', intAtLeast(1), 4)
    .option('--alpha <a>', 'LoRA alpha (scaling alpha/r)', positiveNumber, 32)
    .option('--lora-dropout <p>', 'dropout on the LoRA input while training', fraction, 0.1)
    .option('--targets <list>', 'LoRA targets, comma-separated (q, k, v, c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)', 'q,v')
    .option('--interval <i>', 'aggregation interval I, in local steps', intAtLeast(1), 10)
    .option('--steps <s>', 'local steps S per client (a multiple of --interval)', intAtLeast(1), 50)
    .option('--batch <b>', 'examples per local step', intAtLeast(1), 8)
    .option('--seq-len <t>', 'longest sequence per row (default min(128, the model\'s positions))', intAtLeast(2))
    .option('--lr <x>', 'AdamW learning rate for every optimiser, constant (the paper: 2e-4)', positiveNumber, 2e-4)
    .option('--label-smoothing <x>', 'label smoothing of the training loss', fraction, 0.1)
    .addOption(new Option('--wire <format>', 'wire format of activations and gradients').choices(WIRE_FORMATS).default('f16'))
    .option('--seed <n>', 'seed of the data, partition, adapter init, batch order and dropout', intAtLeast(0), 0)
    .addOption(new Option('--labels <where>', 'SplitLoRA: where the loss is computed; "client" is the U-shaped split (targets, mask and loss never leave the volunteer; two round trips per step)').choices(['server', 'client']).default('server'))
    .option('--act-clip <c>', 'defence (SplitLoRA): volunteers clip each uploaded activation row to L2 norm c', positiveNumber)
    .option('--act-noise <s>', 'defence (SplitLoRA): volunteers add Gaussian noise of std s to the uploaded activations, after clipping', nonNegative)
    .option('--examples <n>', 'size of the built-in synthetic set (without --data)', intAtLeast(2), 600)
    .option('--heldout <n>', 'held-out examples (whole MRs taken from the pool, or the first n of --eval-data)', intAtLeast(1), 100)
    .option('--eval-data <file>', 'held-out data file instead of a split of the pool (e.g. the E2E dev set)')
    .option('--eval-every <rounds>', 'held-out checkpoints every this many aggregation rounds (default: about 20 checkpoints)', intAtLeast(1))
    .addOption(backendOption())
    .option('--json', 'print one JSON object as the last stdout line');
}

/** The run options plus the server's engine; the lab's default is tfjs, so every method of a comparison computes on one engine. */
export function addRunAndEngineOptions(cmd: Command): Command {
  return addEngineOptions(addRunOptions(cmd), 'tfjs');
}

/** Checks the flags against the model and fills the defaults that depend on it. */
export function trainSettings(o: RunFlags, model: SimModel): TrainSettings {
  const { config } = model;
  const cut = o.cut ?? defaultCut(config);
  if (cut >= config.nLayer) throw new CliError(`--cut ${cut}: the model has ${config.nLayer} blocks; the client must hold fewer (1..${config.nLayer - 1})`);
  const seqLen = o.seqLen ?? Math.min(128, config.nPositions);
  if (seqLen > config.nPositions) throw new CliError(`--seq-len ${seqLen} exceeds the model's ${config.nPositions} positions`);
  if (o.steps % o.interval !== 0) throw new CliError(`--steps ${o.steps} must be a multiple of --interval ${o.interval} (whole aggregation rounds)`);
  if (o.batch > 512) throw new CliError(`--batch ${o.batch} is above the server's limit of 512`);
  const targets = o.targets.split(',').map((t) => t.trim()).filter(Boolean);
  const bad = targets.filter((t) => !isLoraTarget(t));
  if (bad.length || targets.length === 0) throw new CliError(`--targets: unknown target ${bad.join(', ') || '(none)'}; use q, k, v, c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj`);
  const rounds = o.steps / o.interval;
  return {
    clients: o.clients, cut, lora: { r: o.rank, alpha: o.alpha, dropout: o.loraDropout, targets: targets as LoraTarget[] },
    interval: o.interval, steps: o.steps, batch: o.batch, seqLen, lr: o.lr, labelSmoothing: o.labelSmoothing, wire: o.wire, seed: o.seed,
    ...(o.labels === 'client' ? { labels: 'client' as const } : {}),
    ...(o.actClip !== undefined ? { actClip: o.actClip } : {}), ...(o.actNoise ? { actNoise: o.actNoise } : {}),
    evalEvery: o.evalEvery ?? Math.max(1, Math.ceil(rounds / 20)),
  };
}

export async function simData(o: RunFlags): Promise<SimData> {
  try {
    return await loadSimData({ data: o.data, format: o.format, examples: o.examples, heldout: o.heldout, evalData: o.evalData, partition: o.partition, clients: o.clients, seed: o.seed });
  } catch (e) {
    const err = e as Error & { code?: string };
    throw err.name === 'Error' || err.code ? err : new CliError(err.message);
  }
}

/** The command line as typed (from the root command's raw argv), shell-quoted, for the report. */
export function commandLine(cmd: Command): string {
  let root = cmd;
  while (root.parent) root = root.parent;
  const raw = ((root as unknown as { rawArgs?: string[] }).rawArgs ?? process.argv).slice(2);
  const argv = root === cmd ? [cmd.name(), ...raw] : raw; // run on its own (tests) or under `splitlora`
  return ['splitlora', ...argv.map((a) => (/^[\w./:,=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))].join(' ');
}
