// bench-scale: one `serve` (no Redis) against a coordinator with 1 and 2 `splitlora node`
// processes over a real redis-server, side by side in one run, every process on wasm
// (single-threaded): server tokens/s, round and step times, Redis bytes per round per volunteer,
// the coordinator's CPU per round, and the ratios against the single serve. Writes report.md and
// scale.json into --out; with --json the last stdout line is the whole result.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { configFromHf } from '@splitlora/model';
import { WIRE_FORMATS, type WireFormat } from '@splitlora/protocol';
import { RANDOM_NANO_ID, medianRows, ratiosTo, resolveModel, runScaleSetup, scaleMarkdown, scaleText, setupName, summarizeSetup, type ScaleResult, type SetupMeasurement } from '@splitlora/lab';
import { addEngineOptions, intAtLeast, positiveNumber, type EngineFlags } from '../options';
import { CliError, log, printResult } from '../output';
import { progressBar, type Progress } from '../progress';
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
  return addEngineOptions(new Command('bench-scale'), 'tfjs')
    .description('one serve (no Redis) vs a coordinator with 1 and 2 node processes over a real redis-server, every process single-threaded wasm: server tokens/s, round and step times, Redis bytes per round per volunteer, coordinator CPU per round, ratios vs the single serve; writes report.md and scale.json')
    .option('--model <dir|id>', `model directory, or ${RANDOM_NANO_ID} (e.g. a random GPT-2 S from "init-model --preset gpt2 --dtype F16")`, RANDOM_NANO_ID)
    .option('--volunteers <n>', 'Node volunteers (in this process), spread round-robin over the nodes', intAtLeast(1), 4)
    .option('--steps <s>', 'local steps per volunteer (a multiple of --rounds)', intAtLeast(2), 16)
    .option('--rounds <r>', 'aggregation rounds: round 0 warms up, rounds 1 … R−2 are measured, round R−1 closes the window', intAtLeast(3), 4)
    .option('--batch <b>', 'rows per step', intAtLeast(1), 4)
    .option('--seq-len <t>', 'longest row (rows are trimmed to the longest in the batch)', intAtLeast(2), 64)
    .option('--cut <k>', 'client blocks (default a quarter of the blocks)', intAtLeast(1))
    .addOption(new Option('--wire <format>', 'wire format of activations and gradients').choices(WIRE_FORMATS).default('f16'))
    .addOption(new Option('--nodes <list>', 'setups, as node counts (0: one serve without Redis)').argParser(nodeCounts).default([0, 1, 2], '0,1,2'))
    .option('--pace <s>', 'the volunteers-per-node estimate assumes one step every this many seconds per volunteer', positiveNumber, 10)
    .option('--repeat <n>', 'run the setups this many times, interleaved, and report medians (a shared machine is noisy)', intAtLeast(1), 1)
    .option('--seed <n>', 'data, partition and dropout seed', intAtLeast(0), 0)
    .option('--stall-s <s>', 'give a setup up after this many seconds without a volunteer step', intAtLeast(10), 600)
    .option('--out <dir>', 'report folder', join('bench-runs', 'scale'))
    .option('--json', 'print the whole result as the last stdout line')
    .addHelpText('after', '\nExamples:\n  splitlora bench-scale --volunteers 4\n  splitlora bench-scale --model /tmp/gpt2s --volunteers 2 --batch 1 --seq-len 64 --cut 3 --steps 8 --rounds 4')
    .action(async (o: ScaleFlags, self: Command) => {
      if (o.steps % o.rounds !== 0) throw new CliError(`--steps ${o.steps} must be a multiple of --rounds ${o.rounds}`);
      const dir = await resolveModel(o.model, { log });
      const config = configFromHf(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
      if (o.cut !== undefined && o.cut >= config.nLayer) throw new CliError(`--cut ${o.cut}: the model has ${config.nLayer} blocks; the client must hold fewer`);
      if (o.seqLen > config.nPositions) throw new CliError(`--seq-len ${o.seqLen} exceeds the model's ${config.nPositions} positions`);
      await selectNodeBackend('wasm', log); // the volunteers, like every process, compute single-threaded
      const startedAt = new Date().toISOString();
      const engineArgs = ['--engine', o.engine, '--device', o.device, ...(o.threads ? ['--threads', String(o.threads)] : []), ...(o.python ? ['--python', o.python] : [])];
      const opts = { modelDir: dir, engineArgs, volunteers: o.volunteers, steps: o.steps, rounds: o.rounds, batch: o.batch, seqLen: o.seqLen, cut: o.cut ?? 0, wire: o.wire, seed: o.seed, setups: o.nodes, stallMs: o.stallS * 1000 };
      const measurements: SetupMeasurement[] = [];
      let cut = o.cut ?? 0;
      for (const nodes of Array.from({ length: o.repeat }, () => o.nodes).flat()) {
        let bar: Progress | null = null;
        const m = await runScaleSetup(nodes, opts, {
          log: (msg) => { if (!bar) log(msg); },
          onStep: (setup, done, total) => {
            bar ??= progressBar(total, `bench-scale ${setup} [{bar}] {value}/{total} steps | {eta_formatted}`);
            bar.update(done);
          },
        });
        (bar as Progress | null)?.stop();
        cut = m.cut;
        measurements.push(m);
        const row = summarizeSetup(m);
        log(`bench-scale ${setupName(nodes)}: ${row.serverTokensPerSec.toFixed(1)} tok/s, round p50 ${Math.round(row.roundP50Ms)} ms, coordinator ${Math.round(row.coordinatorCpuMsPerRound)} ms CPU/round (${m.wallSeconds.toFixed(0)} s)`);
      }
      const { rows, detail } = medianRows(measurements);
      const baseIndex = Math.max(0, rows.findIndex((r) => r.nodes === 0));
      const result: ScaleResult = {
        model: { id: o.model === RANDOM_NANO_ID ? RANDOM_NANO_ID : basename(dir), layers: config.nLayer, dModel: config.nEmbd, cut },
        settings: { volunteers: o.volunteers, steps: o.steps, rounds: o.rounds, interval: o.steps / o.rounds, batch: o.batch, seqLen: o.seqLen, wire: o.wire },
        pace: o.pace, repeats: o.repeat, rows, ratios: ratiosTo(rows[baseIndex], rows), baseline: rows[baseIndex].setup, detail, measurements,
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' }, command: commandLine(self), startedAt,
      };
      await mkdir(o.out, { recursive: true });
      await writeFile(join(o.out, 'report.md'), scaleMarkdown(result));
      await writeFile(join(o.out, 'scale.json'), JSON.stringify(result, null, 2) + '\n');
      log(scaleText(result));
      log(`bench-scale: ${join(o.out, 'report.md')}, ${join(o.out, 'scale.json')}`);
      if (o.json) printResult(result);
    });
}
