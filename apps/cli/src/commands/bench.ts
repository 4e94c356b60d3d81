// bench: CenLoRA, SplitLoRA and FedLoRA side by side on the same data, partition, seeds and
// hyper-parameters. Writes a run folder (report.md, SVG plots, results.json, CSVs); with --json
// the last stdout line is one JSON object keyed by method.
import { join } from 'node:path';
import { Command } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { readDataFile } from '@splitlora/data/node';
import { DEFAULT_LATENCY, LATENCY_ASSUMPTIONS, METHODS, bench, latencyParams, loadSimModel, type Method } from '@splitlora/lab';
import { DECODE_BATCH } from '@splitlora/model';
import { engineFromFlags, intAtLeast, positiveNumber } from '../options';
import { CliError, log, printResult } from '../output';
import { experimentHooks } from '../progress';
import { addRunAndEngineOptions, commandLine, simData, trainSettings, type RunEngineFlags } from '../run-options';

interface BenchFlags extends RunEngineFlags {
  methods: string;
  out?: string;
  clientTflops: number;
  serverTflops: number;
  centralTflops?: number;
  uplinkMbps: number;
  downlinkMbps: number;
  rttMs: number;
  targetPpl?: number;
  e2eEval: boolean;
  e2eMrs: number;
  e2eData?: string;
  e2eBeams: number;
  e2eBatch: number;
  evalLimit?: number;
  quick?: boolean;
}

/**
 * --quick: evaluation sized for a smoke run; training and data are untouched, so a quick bench
 * trains exactly what the full one does. Explicit flags win.
 */
export const QUICK = { evalLimit: 32, checkpointsPerMethod: 4, e2eMrs: 5, e2eBeams: 1 };

function applyQuick(o: BenchFlags, self: Command): void {
  const given = (name: string) => self.getOptionValueSource(name) === 'cli';
  if (!given('evalLimit')) o.evalLimit = QUICK.evalLimit;
  if (!given('evalEvery')) o.evalEvery = Math.max(1, Math.ceil(o.steps / o.interval / QUICK.checkpointsPerMethod));
  if (!given('e2eMrs')) o.e2eMrs = QUICK.e2eMrs;
  if (!given('e2eBeams')) o.e2eBeams = QUICK.e2eBeams;
}

function parseMethods(list: string): Method[] {
  const ms = list.split(',').map((m) => m.trim()).filter(Boolean);
  const bad = ms.filter((m) => !(METHODS as readonly string[]).includes(m));
  if (bad.length || ms.length === 0) throw new CliError(`--methods: unknown method ${bad.join(', ') || '(none)'}; use a comma-separated subset of ${METHODS.join(',')}`);
  return [...new Set(ms)] as Method[];
}

/** Word-wraps `text` to `width` columns; continuation lines get `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '  ';
  for (const word of text.split(' ')) {
    if (line.trim() && line.length + word.length + 1 > width) {
      lines.push(line);
      line = indent;
    }
    line += (line.trim() ? ' ' : '') + word;
  }
  return [...lines, line].join('\n');
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');

export function benchCommand(): Command {
  const cmd = new Command(bench.name).description(bench.description);
  addRunAndEngineOptions(cmd)
    .option('--methods <list>', 'methods to run, comma-separated', METHODS.join(','))
    .option('--out <dir>', 'run folder (default ./bench-runs/<timestamp>)')
    .option('--client-tflops <x>', 'latency model: sustained client FLOP rate, TFLOP/s', positiveNumber, DEFAULT_LATENCY.clientTflops)
    .option('--server-tflops <x>', 'latency model: sustained server FLOP rate, TFLOP/s', positiveNumber, DEFAULT_LATENCY.serverTflops)
    .option('--central-tflops <x>', 'latency model: CenLoRA machine\'s FLOP rate, TFLOP/s (default: the client rate)', positiveNumber)
    .option('--uplink-mbps <x>', 'latency model: client → server bandwidth, Mbit/s', positiveNumber, DEFAULT_LATENCY.uplinkMbps)
    .option('--downlink-mbps <x>', 'latency model: server → client bandwidth, Mbit/s', positiveNumber, DEFAULT_LATENCY.downlinkMbps)
    .option('--rtt-ms <x>', 'latency model: round-trip time, ms', positiveNumber, DEFAULT_LATENCY.rttMs)
    .option('--target-ppl <x>', 'held-out perplexity to reach (default: 80% of the way, in loss, from the start to the worst method\'s best)', positiveNumber)
    .option('--no-e2e-eval', 'skip the E2E metrics of the final adapters')
    .option('--e2e-mrs <n>', 'held-out MRs decoded for the E2E metrics', intAtLeast(1), 20)
    .option('--e2e-data <file>', 'decode the MRs of this file for the E2E metrics, each scored against all its references (e.g. the E2E test split; default: the held-out set)')
    .option('--e2e-beams <k>', 'beam width for the E2E outputs (the paper: 10)', intAtLeast(1), 10)
    .option('--e2e-batch <n>', 'MRs decoded together for the E2E outputs, those of equal token length (the outputs do not depend on it)', intAtLeast(1), DECODE_BATCH)
    .option('--eval-limit <n>', 'score each checkpoint on the first n held-out examples only (default: all of --heldout)', intAtLeast(1))
    .option('--quick', `cheap evaluation for a smoke run: --eval-limit ${QUICK.evalLimit}, about ${QUICK.checkpointsPerMethod} checkpoints per method, --e2e-mrs ${QUICK.e2eMrs} --e2e-beams ${QUICK.e2eBeams} (explicit flags win; training is unchanged)`)
    .addHelpText('after', [
      '',
      'Latency model (defaults named above; see report.md for the full statement):',
      ...LATENCY_ASSUMPTIONS.map((a) => wrap(`- ${a.replace(/`/g, '')}`, 96, '    ')),
      '',
      'Example:',
      '  splitlora bench --methods cen,split,fed --clients 3 --steps 60 --interval 10 --lr 2e-3 --out bench-runs/nano --json',
      '  splitlora bench --quick --clients 3 --steps 20 --interval 5 --batch 4',
    ].join('\n'))
    .action(async (o: BenchFlags, self: Command) => {
      const methods = parseMethods(o.methods);
      if (o.quick) applyQuick(o, self);
      const backend = await selectNodeBackend(o.backend, log);
      const model = await loadSimModel(o.model, log);
      const settings = trainSettings(o, model);
      const data = await simData(o);
      const out = o.out ?? join('bench-runs', stamp());
      const e2eTest = o.e2eData ? (await readDataFile(o.e2eData, 'auto')).examples.map((e) => ({ context: e.context.trim(), completion: e.completion.trim() })) : data.heldoutText;
      const e2eMrs = Math.min(o.e2eMrs, new Set(e2eTest.map((e) => e.context)).size);
      const run = await bench.run({
        model, settings, data, methods, engine: methods.includes('split') ? await engineFromFlags(o, log) : undefined,
        latency: latencyParams({ ...o, centralTflops: o.centralTflops ?? o.clientTflops }), targetPerplexity: o.targetPpl, stallMs: 300_000, evalLimit: o.evalLimit,
        e2e: o.e2eEval ? { mrs: o.e2eMrs, beams: o.e2eBeams, batchSize: o.e2eBatch, test: e2eTest } : null,
        command: commandLine(self), backend, partition: o.partition, e2eSource: o.e2eEval ? { source: o.e2eData ?? 'the held-out set', mrs: e2eMrs, beams: o.e2eBeams } : null,
      }, experimentHooks((label) => `${label.padEnd(16)} [{bar}] {value}/{total} | {note} | ETA {eta_formatted}`));
      const report = await bench.report(run, out);
      log(`bench: report written to ${report.files[0]}`);
      if (o.json) printResult(report.json);
      else process.stdout.write(report.text!);
    });
  return cmd;
}
