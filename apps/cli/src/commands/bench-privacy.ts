// bench-privacy: token recovery by a curious server vs cut for several noise levels (with and
// without clipping), the held-out loss the same defences cost after the same training steps, and
// the privacy/utility frontier. Writes report.md, SVGs and privacy.json into --out; with --json the
// last stdout line is {attacks, training, frontier, verdict}.
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { benchPrivacy, loadSimModel } from '@splitlora/lab';
import { defaultCut } from '@splitlora/model';
import { intAtLeast, positiveNumber } from '../options';
import { CliError, log, printResult } from '../output';
import { experimentHooks } from '../progress';
import { addRunOptions, commandLine, simData, trainSettings, type RunFlags } from '../run-options';

interface PrivacyFlags extends RunFlags {
  out: string;
  cuts?: string;
  sigmas: string;
  /** A number, or false with --no-clip. */
  clip: number | false;
  limit: number;
  maxCandidates: number;
  trainCuts?: string;
  train: boolean;
  ushape: boolean;
  protectBelow: number;
  trainShare: number;
  quick?: boolean;
}

function numberList(what: string, integer: boolean) {
  return (value: string): number[] => {
    const xs = value.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x < 0 || (integer && !Number.isInteger(x)))) {
      throw new InvalidArgumentError(`expected comma-separated ${integer ? 'integers' : 'numbers'} >= 0 for ${what}, got "${value}"`);
    }
    return [...new Set(xs)];
  };
}

function share(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a number in [0, 1], got "${value}"`);
  return n;
}

/**
 * --quick: a smoke run (about 2 min on default-nano here): cuts 1–2, σ ∈ {0, 2}×RMS, 1 example,
 * 256 candidates, training at the default cut only, 2 clients × 20 steps. Explicit flags win.
 */
export const PRIVACY_QUICK = { sigmas: '0,2', limit: 1, maxCandidates: 256, clients: 2, steps: 20, interval: 10, heldout: 24, examples: 200 };

export function benchPrivacyCommand(): Command {
  const d = benchPrivacy.defaults;
  const cmd = new Command(benchPrivacy.name).description(benchPrivacy.description);
  addRunOptions(cmd)
    .option('--out <dir>', 'report folder', join('bench-runs', 'privacy'))
    .option('--cuts <list>', 'cuts attacked, comma-separated (default 1..min(3, blocks − 1))')
    .option('--sigmas <list>', 'noise σ as multiples of the clean activations\' RMS at each cut', d.sigmas!.join(','))
    .option('--clip <x>', 'the clipped series: C as a multiple of the clean rows\' RMS norm at each cut', positiveNumber, d.clip!)
    .option('--no-clip', 'no clipped series')
    .option('--limit <n>', 'examples attacked per setting (the first of client 0\'s shard)', intAtLeast(1), d.limit)
    .option('--max-candidates <n>', 'candidate tokens scored per position at most (all of them under noise)', intAtLeast(1), d.maxCandidates)
    .option('--train-cuts <list>', 'cuts trained at, one run per σ and clip setting (default: the default cut and the deepest of --cuts)')
    .option('--no-train', 'attacks only (e.g. a GPT-2 S-sized model on a CPU)')
    .option('--no-ushape', 'skip the U-shaped runs (labels "client" at the first train cut, σ = 0 and the largest σ)')
    .option('--protect-below <x>', '"protects": token recovery at most this share', share, d.protectBelow)
    .option('--train-share <x>', '"trains": at least this share of the undefended held-out gain', share, d.trainShare)
    .option('--quick', `smoke run: --sigmas ${PRIVACY_QUICK.sigmas} --limit ${PRIVACY_QUICK.limit} --max-candidates ${PRIVACY_QUICK.maxCandidates}, training at the default cut, ${PRIVACY_QUICK.clients} clients × ${PRIVACY_QUICK.steps} steps (explicit flags win)`)
    .addHelpText('after', '\nExample:\n  splitlora bench-privacy --quick\n  splitlora bench-privacy --clients 2 --steps 40 --interval 10 --lr 1e-3\n  splitlora bench-privacy --model /tmp/gpt2s --cuts 3 --no-train --limit 2 --sigmas 0,1,2 --max-candidates 256 --out bench-runs/privacy-gpt2s')
    .action(async (o: PrivacyFlags, self: Command) => {
      const given = (name: string) => self.getOptionValueSource(name) === 'cli';
      if (o.actClip !== undefined || o.actNoise !== undefined) throw new CliError('bench-privacy sweeps the defences itself: use --sigmas and --clip instead of --act-noise / --act-clip');
      if (!given('lr')) o.lr = 1e-3; // 50 steps at the paper's 2e-4 barely move a random model
      if (o.quick) {
        for (const [k, v] of Object.entries(PRIVACY_QUICK)) if (!given(k)) (o as unknown as Record<string, unknown>)[k] = v;
      }
      const sigmas = numberList('--sigmas', false)(o.sigmas);
      const backend = await selectNodeBackend(o.backend, log);
      const model = await loadSimModel(o.model, log);
      const s = trainSettings(o, model);
      const L = model.config.nLayer;
      if (L < 2) throw new CliError('bench-privacy needs a model with at least 2 blocks');
      const cuts = o.cuts ? numberList('--cuts', true)(o.cuts) : Array.from({ length: Math.min(3, L - 1) }, (_, i) => i + 1);
      const quickCuts = o.quick && !o.cuts ? cuts.slice(0, 2) : cuts;
      const trainCuts = !o.train ? [] : o.trainCuts ? numberList('--train-cuts', true)(o.trainCuts) : o.quick ? [defaultCut(model.config)] : [...new Set([defaultCut(model.config), Math.max(...quickCuts)])];
      for (const k of [...quickCuts, ...trainCuts]) if (k < 1 || k >= L) throw new CliError(`cut ${k}: the model has ${L} blocks; cuts must be in 1..${L - 1}`);
      const data = await simData(o);
      const run = await benchPrivacy.run({
        model, settings: s, data, cuts: quickCuts, sigmas, clip: o.clip === false ? null : o.clip, limit: o.limit, maxCandidates: o.maxCandidates,
        trainCuts, protectBelow: o.protectBelow, trainShare: o.trainShare, ushape: o.ushape, command: commandLine(self), backend,
      }, experimentHooks((label) => `${label} [{bar}] {value}/{total} | {note}`));
      const report = await benchPrivacy.report(run, o.out);
      log(`bench-privacy: ${report.files.join(', ')}`);
      log(`bench-privacy: ${report.text}`);
      if (o.json) printResult(report.json);
    });
  return cmd;
}
