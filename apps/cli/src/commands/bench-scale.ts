// bench-scale: one `serve` (no Redis) against a coordinator with 1 and 2 `splitlora node`
// processes over a real redis-server, side by side in one run, every process on wasm
// (single-threaded): server tokens/s, round and step times, Redis bytes per round per volunteer,
// the coordinator's CPU per round, and the ratios against the single serve. Writes report.md and
// scale.json into --out; with --json the last stdout line is the whole result.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { RANDOM_NANO_ID, benchScale, resolveModel } from '@splitlora/lab';
import { configFromHf } from '@splitlora/model';
import { WIRE_FORMATS, type WireFormat } from '@splitlora/protocol';
import { addEngineOptions, intAtLeast, positiveNumber, type EngineFlags } from '../options';
import { CliError, log, printResult } from '../output';
import { experimentHooks } from '../progress';
import { commandLine } from '../run-options';

interface ScaleFlags extends EngineFlags {
  model: string;
  volunteers: number;
  steps: number;
  rounds: number;
  batch: number;
  seqLen: number;
  cut?: number;
  wire: WireFormat;
  nodes: number[];
  pace: number;
  seed: number;
  stallS: number;
  repeat: number;
  out: string;
  json?: boolean;
}

function nodeCounts(value: string): number[] {
  const xs = value.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 0 || x > 16)) throw new InvalidArgumentError(`expected comma-separated node counts 0..16 (0: one serve without Redis), got "${value}"`);
  return [...new Set(xs)];
}

export function benchScaleCommand(): Command {
  const d = benchScale.defaults;
  return addEngineOptions(new Command(benchScale.name), 'tfjs')
    .description(benchScale.description)
    .option('--model <dir|id>', `model directory, or ${RANDOM_NANO_ID} (e.g. a random GPT-2 S from "init-model --preset gpt2 --dtype F16")`, RANDOM_NANO_ID)
    .option('--volunteers <n>', 'Node volunteers (in this process), spread round-robin over the nodes', intAtLeast(1), d.volunteers)
    .option('--steps <s>', 'local steps per volunteer (a multiple of --rounds)', intAtLeast(2), d.steps)
    .option('--rounds <r>', 'aggregation rounds: round 0 warms up, rounds 1 … R−2 are measured, round R−1 closes the window', intAtLeast(3), d.rounds)
    .option('--batch <b>', 'rows per step', intAtLeast(1), d.batch)
    .option('--seq-len <t>', 'longest row (rows are trimmed to the longest in the batch)', intAtLeast(2), d.seqLen)
    .option('--cut <k>', 'client blocks (default a quarter of the blocks)', intAtLeast(1))
    .addOption(new Option('--wire <format>', 'wire format of activations and gradients').choices(WIRE_FORMATS).default(d.wire))
    .addOption(new Option('--nodes <list>', 'setups, as node counts (0: one serve without Redis)').argParser(nodeCounts).default(d.setups, d.setups!.join(',')))
    .option('--pace <s>', 'the volunteers-per-node estimate assumes one step every this many seconds per volunteer', positiveNumber, d.pace)
    .option('--repeat <n>', 'run the setups this many times, interleaved, and report medians (a shared machine is noisy)', intAtLeast(1), d.repeat)
    .option('--seed <n>', 'data, partition and dropout seed', intAtLeast(0), d.seed)
    .option('--stall-s <s>', 'give a setup up after this many seconds without a volunteer step', intAtLeast(10), d.stallMs! / 1000)
    .option('--out <dir>', 'report folder', join('bench-runs', 'scale'))
    .option('--json', 'print the whole result as the last stdout line')
    .addHelpText('after', '\nExamples:\n  splitlora bench-scale --volunteers 4\n  splitlora bench-scale --model /tmp/gpt2s --volunteers 2 --batch 1 --seq-len 64 --cut 3 --steps 8 --rounds 4')
    .action(async (o: ScaleFlags, self: Command) => {
      if (o.steps % o.rounds !== 0) throw new CliError(`--steps ${o.steps} must be a multiple of --rounds ${o.rounds}`);
      const dir = await resolveModel(o.model, { log });
      const config = configFromHf(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
      if (o.cut !== undefined && o.cut >= config.nLayer) throw new CliError(`--cut ${o.cut}: the model has ${config.nLayer} blocks; the client must hold fewer`);
      if (o.seqLen > config.nPositions) throw new CliError(`--seq-len ${o.seqLen} exceeds the model's ${config.nPositions} positions`);
      const result = await benchScale.run({
        modelDir: dir, modelId: o.model === RANDOM_NANO_ID ? RANDOM_NANO_ID : basename(dir), config,
        engineArgs: ['--engine', o.engine, '--device', o.device, ...(o.threads ? ['--threads', String(o.threads)] : []), ...(o.python ? ['--python', o.python] : [])],
        volunteers: o.volunteers, steps: o.steps, rounds: o.rounds, batch: o.batch, seqLen: o.seqLen, cut: o.cut ?? 0, wire: o.wire, seed: o.seed,
        setups: o.nodes, stallMs: o.stallS * 1000, repeat: o.repeat, pace: o.pace, command: commandLine(self),
      }, experimentHooks((label) => `${label} [{bar}] {value}/{total} steps | {eta_formatted}`));
      const report = await benchScale.report(result, o.out);
      log(report.text!);
      log(`bench-scale: ${report.files.join(', ')}`);
      if (o.json) printResult(report.json);
    });
}
