// `splitlora bench-privacy`: what a curious server recovers from the cut activations (token
// recovery vs cut, for noise σ relative to the activations' RMS, with and without per-row
// clipping) against what the same defences cost in training (held-out loss after the same steps,
// one short in-process SplitLoRA run per setting: same seed, data and batches), and the frontier
// between the two. Writes report.md, SVGs and privacy.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { noiseKeyFromSeed } from '@splitlora/client';
import { disposeWeights, toWeights, type Weights } from '@splitlora/model';
import { activationInversion, type AttackResult } from '@splitlora/privacy';
import { NO_PROGRESS, type Experiment, type Progress } from '../experiment';
import { formatTable } from '../table';
import { clientSeed } from './batches';
import { heldoutCurve, type HeldoutMemo } from './evaluate';
import { runSimulate } from './simulate';
import { sideBySide } from './report';
import { lineChart } from './svg';
import type { SimData, SimModel, TrainSettings } from './types';

export interface PrivacyBenchOptions {
  /** Cuts attacked. */
  cuts: number[];
  /** Noise σ as multiples of the clean activations' RMS at each cut (0 = none). */
  sigmas: number[];
  /** Clip C as a multiple of the clean rows' RMS L2 norm at each cut; null: no clipped series. */
  clip: number | null;
  /** Examples attacked per setting: the first of client 0's shard (a volunteer's own training text). */
  limit: number;
  /** Candidates scored per position at most (all of them under noise). */
  maxCandidates: number;
  /** Cuts trained at, each with every σ and clip setting; [] = attacks only. */
  trainCuts: number[];
  /** "Protects": token recovery at most this share. */
  protectBelow: number;
  /** "Trains": at least this share of the undefended run's held-out loss gain at the same cut. */
  trainShare: number;
  /** Also train the U-shaped split (labels "client") at the first train cut, at σ = 0 and the largest σ. */
  ushape: boolean;
}

export interface Defence {
  cut: number;
  /** σ / (clean activation RMS at this cut). */
  sigmaRms: number;
  /** σ itself. */
  noise: number;
  /** C / (clean rows' RMS norm at this cut), or null without a clip. */
  clipRms: number | null;
  clip: number | null;
}

export interface AttackRow extends Defence {
  tokens: number;
  recovered: number;
  recoveryRate: number;
  completionRecoveryRate: number;
  /** RMS of the clean activations (the scale of sigmaRms). */
  activationRms: number;
  candidatesPerToken: number;
  secondsPerExample: number;
}

export interface TrainRow extends Defence {
  /** Where the loss is computed: "server" sends the target ids (the completions); "client" is the U-shape. */
  labels: 'server' | 'client';
  /** Held-out completion NLL of the base model (no adapter) and of the final adapter, both without any defence. */
  baseHeldoutLoss: number;
  heldoutLoss: number;
  /** (base − this) / (base − the undefended run's at this cut): the share of the gain kept. */
  gainShare: number | null;
  /** Mean over clients of the first / last training loss, as the server computed it on the defended rows. */
  initialTrainLoss: number;
  finalTrainLoss: number;
  /** The attack's recovery at the same cut and defence (fresh adapter), or null when not attacked. */
  recoveryRate: number | null;
  completionRecoveryRate: number | null;
  /** Token recovery from the activations at most protectBelow. */
  protects: boolean;
  /** protects, and the completions are not sent as target ids either (labels "client"). */
  hidesCompletions: boolean;
  trains: boolean;
  wallSeconds: number;
}

export interface PrivacyBenchResult {
  settings: TrainSettings;
  options: PrivacyBenchOptions;
  attacks: AttackRow[];
  training: TrainRow[];
  /** Training rows not beaten on both recovery and held-out loss by another row (attacked ones only). */
  frontier: TrainRow[];
  verdict: { both: TrainRow[]; text: string };
}

export interface PrivacyHooks {
  log?: (message: string) => void;
  /** Before each attack / training run: its index, the total and a label. */
  onItem?: (done: number, total: number, label: string) => void;
}

const sameDefence = (a: Defence, b: Defence) => a.cut === b.cut && a.sigmaRms === b.sigmaRms && a.clipRms === b.clipRms;

/** Defences at one cut: σ multiples × (no clip, clip), scaled by that cut's clean RMS. */
function grid(cut: number, rms: number, d: number, o: PrivacyBenchOptions): Defence[] {
  const clips: (number | null)[] = o.clip === null ? [null] : [null, o.clip];
  return clips.flatMap((clipRms) => o.sigmas.map((sigmaRms) => ({
    cut, sigmaRms, noise: sigmaRms * rms, clipRms, clip: clipRms === null ? null : clipRms * rms * Math.sqrt(d),
  })));
}

export async function runPrivacyBench(model: SimModel, weights: Weights, s: TrainSettings, data: SimData, o: PrivacyBenchOptions, hooks: PrivacyHooks = {}): Promise<PrivacyBenchResult> {
  const { config } = model;
  const log = hooks.log ?? (() => {});
  for (const k of [...o.cuts, ...o.trainCuts]) {
    if (!(Number.isInteger(k) && k >= 1 && k < config.nLayer)) throw new Error(`cut ${k}: the model has ${config.nLayer} blocks; cuts must be in 1..${config.nLayer - 1}`);
  }
  if (o.sigmas.length === 0 || o.sigmas.some((x) => !(x >= 0 && Number.isFinite(x)))) throw new Error(`sigmas must be numbers >= 0, got [${o.sigmas}]`);
  const examples = data.shards[0].slice(0, o.limit);
  const cuts = [...new Set([...o.cuts, ...o.trainCuts])].sort((a, b) => a - b);
  const perCut = 1 + (o.sigmas.length * (o.clip === null ? 1 : 2) - (o.sigmas.includes(0) ? 1 : 0));
  const ushapeSigmas = o.ushape && o.trainCuts.length ? [...new Set([0, Math.max(...o.sigmas)])] : [];
  const total = cuts.length * perCut + o.trainCuts.length * o.sigmas.length * (o.clip === null ? 1 : 2) + ushapeSigmas.length;
  let item = 0;

  const attack = async (dfn: Defence): Promise<AttackResult> => {
    hooks.onItem?.(++item, total, `attack cut ${dfn.cut}, σ ${dfn.sigmaRms}×RMS${dfn.clipRms === null ? '' : `, clip ${dfn.clipRms}×`}`);
    return activationInversion(examples, {
      config, weights, cut: dfn.cut, lora: s.lora, seed: s.seed, volunteerSeed: clientSeed(s.seed, 0), batch: s.batch, seqLen: s.seqLen, wire: s.wire,
      ...(dfn.clip !== null ? { actClip: dfn.clip } : {}), ...(dfn.noise > 0 ? { actNoise: dfn.noise } : {}), noiseKey: noiseKeyFromSeed(s.seed + 1), maxCandidates: o.maxCandidates,
    });
  };
  const row = (dfn: Defence, r: AttackResult): AttackRow => ({
    ...dfn, tokens: r.tokens, recovered: r.recovered, recoveryRate: r.recoveryRate, completionRecoveryRate: r.completionRecoveryRate,
    activationRms: r.activationRms, candidatesPerToken: r.candidatesPerToken, secondsPerExample: r.secondsPerExample,
  });

  // Every cut's clean RMS comes from its undefended attack, which also gives its σ = 0 row.
  const attacks: AttackRow[] = [];
  const rmsAt = new Map<number, number>();
  for (const cut of cuts) {
    const plain: Defence = { cut, sigmaRms: 0, noise: 0, clipRms: null, clip: null };
    const r0 = await attack(plain);
    rmsAt.set(cut, r0.activationRms);
    attacks.push(row(plain, r0));
    log(`cut ${cut}: activation RMS ${r0.activationRms.toPrecision(3)}, no defence: ${r0.recovered}/${r0.tokens} tokens`);
    if (!o.cuts.includes(cut)) continue;
    for (const dfn of grid(cut, r0.activationRms, config.nEmbd, o)) {
      if (sameDefence(dfn, plain)) continue;
      const r = await attack(dfn);
      attacks.push(row(dfn, r));
      log(`cut ${cut}, σ ${dfn.sigmaRms}×RMS = ${dfn.noise.toPrecision(3)}${dfn.clip === null ? '' : `, clip ${dfn.clip.toPrecision(3)}`}: ${r.recovered}/${r.tokens} tokens (${(100 * r.recoveryRate).toFixed(1)} %)`);
    }
  }

  const training: TrainRow[] = [];
  const memo: HeldoutMemo = {};
  const jobs: { dfn: Defence; labels: 'server' | 'client' }[] = o.trainCuts.flatMap((cut) => grid(cut, rmsAt.get(cut)!, config.nEmbd, o).map((dfn) => ({ dfn, labels: 'server' as const })));
  if (ushapeSigmas.length) {
    const cut = o.trainCuts[0];
    const rms = rmsAt.get(cut)!;
    jobs.push(...ushapeSigmas.map((sigmaRms) => ({ dfn: { cut, sigmaRms, noise: sigmaRms * rms, clipRms: null, clip: null }, labels: 'client' as const })));
  }
  const undefendedGain = new Map<number, number>();
  for (const { dfn, labels } of jobs) {
    const cut = dfn.cut;
    hooks.onItem?.(++item, total, `train cut ${cut}, σ ${dfn.sigmaRms}×RMS${dfn.clipRms === null ? '' : `, clip ${dfn.clipRms}×`}${labels === 'client' ? ', U-shape' : ''}`);
    const ts: TrainSettings = {
      ...s, cut, evalEvery: s.steps / s.interval, labels,
      ...(dfn.clip !== null ? { actClip: dfn.clip } : { actClip: undefined }), ...(dfn.noise > 0 ? { actNoise: dfn.noise } : { actNoise: undefined }),
    };
    const { result, run } = await runSimulate(model, weights, ts, data, { mode: 'in-process' });
    const [base] = await heldoutCurve(model, weights, ts, data.heldout, [run.checkpoints[0]], undefined, memo);
    const gain = base.heldoutLoss - result.heldoutLoss;
    if (dfn.sigmaRms === 0 && dfn.clipRms === null && labels === 'server') undefendedGain.set(cut, gain);
    const hit = attacks.find((a) => sameDefence(a, dfn));
    const ref = undefendedGain.get(cut);
    const gainShare = ref !== undefined && ref > 0 ? gain / ref : null;
    const protects = hit !== undefined && hit.recoveryRate <= o.protectBelow;
    const tr: TrainRow = {
      ...dfn, labels, baseHeldoutLoss: base.heldoutLoss, heldoutLoss: result.heldoutLoss, gainShare,
      initialTrainLoss: result.initialLoss, finalTrainLoss: result.finalLoss,
      recoveryRate: hit?.recoveryRate ?? null, completionRecoveryRate: hit?.completionRecoveryRate ?? null,
      protects, hidesCompletions: protects && labels === 'client', trains: gainShare !== null && gainShare >= o.trainShare,
      wallSeconds: result.wallSeconds,
    };
    training.push(tr);
    log(`trained cut ${cut}, σ ${dfn.sigmaRms}×RMS${dfn.clip === null ? '' : `, clip ${dfn.clip.toPrecision(3)}`}${labels === 'client' ? ', U-shape' : ''}: held-out ${base.heldoutLoss.toFixed(3)} → ${result.heldoutLoss.toFixed(3)}${gainShare === null ? '' : ` (${(100 * gainShare).toFixed(0)} % of the undefended gain)`}`);
  }
  const attacked = training.filter((t) => t.recoveryRate !== null);
  const frontier = attacked
    .filter((t) => !attacked.some((u) => u !== t && u.recoveryRate! <= t.recoveryRate! && u.heldoutLoss <= t.heldoutLoss && (u.recoveryRate! < t.recoveryRate! || u.heldoutLoss < t.heldoutLoss)))
    .sort((a, b) => a.recoveryRate! - b.recoveryRate!);
  const both = training.filter((t) => t.protects && t.trains);
  const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
  const name = (t: TrainRow) => `cut ${t.cut}, σ ${t.sigmaRms}×RMS${t.clipRms === null ? '' : `, clip ${t.clipRms}×`}${t.labels === 'client' ? ', U-shape' : ''}`;
  const hiding = both.filter((t) => t.hidesCompletions);
  const labelsNote = both.length === 0 ? '' : hiding.length
    ? ` Of these, only ${hiding.map(name).join('; ')} also keep the completions off the wire (U-shape); with labels on the server the target ids give the completions away whatever σ is.`
    : ' But all of them send the target ids (labels on the server), which give the completions away whatever σ is; only the U-shape with the same noise would hide them.';
  const text = training.length === 0
    ? 'No training runs (attacks only): this bench says what the server can read, not what a defence costs.'
    : both.length === 0
      ? `No setting measured here both protects (token recovery ≤ ${pct(o.protectBelow)}) and trains (≥ ${pct(o.trainShare)} of the undefended held-out gain in the same steps). ` +
        'Noise large enough to defeat the inversion also drowns the signal the server trains on.'
      : `${both.length} setting(s) both protect the activations (recovery ≤ ${pct(o.protectBelow)}) and train (≥ ${pct(o.trainShare)} of the undefended gain in the same steps): ` +
        both.map(name).join('; ') + '.' + labelsNote;
  return { settings: s, options: o, attacks, training, frontier, verdict: { both, text } };
}

// ---- report ---------------------------------------------------------------------------------

export interface PrivacyReportMeta {
  command: string;
  modelId: string;
  layers: number;
  dModel: number;
  dataSource: string;
  heldoutExamples: number;
  backend: string;
  startedAt: string;
  wallSeconds: number;
}

const pc = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
const g3 = (x: number | null) => (x === null ? '–' : x.toPrecision(3));
const defenceName = (d: Defence) => `${d.clipRms === null ? 'no clip' : `clip ${d.clipRms}× row RMS`}, σ ${d.sigmaRms}× RMS`;
const trainName = (t: TrainRow) => `${defenceName(t)}${t.labels === 'client' ? ', U-shape' : ''}`;
/** A plain-text table inside a code fence, so Markdown keeps its columns. */
const fenced = (header: string[], rows: (string | number)[][]) => ['```', formatTable(header, rows), '```'].join('\n');

/** The measured cost of the U-shape: its undefended held-out loss next to the server-labels run's. */
function ushapeCost(training: TrainRow[]): string[] {
  const u = training.find((t) => t.labels === 'client' && t.sigmaRms === 0);
  const sv = u && training.find((t) => t.labels === 'server' && t.cut === u.cut && t.sigmaRms === 0 && t.clipRms === null);
  if (!u || !sv) return [];
  return [`Measured cost of the U-shape at cut ${u.cut}, no noise: held-out loss ${u.heldoutLoss.toFixed(4)} against ${sv.heldoutLoss.toFixed(4)} with labels on the server, after the same steps (the same computation, moved; it adds one round trip per step).`, ''];
}

export async function writePrivacyReport(dir: string, r: PrivacyBenchResult, meta: PrivacyReportMeta): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const { attacks, training, options: o } = r;
  // One panel per clip setting (no clip, clip), one line per σ.
  const panel = (clipRms: number | null) => lineChart(`Token recovery vs. cut${clipRms === null ? ', no clip' : `, clip ${clipRms}× row RMS`}`, 'cut (client blocks)', 'tokens recovered (%)',
    o.sigmas.map((sigmaRms) => ({
      name: `σ ${sigmaRms}×RMS`,
      points: attacks.filter((a) => a.clipRms === clipRms && a.sigmaRms === sigmaRms && o.cuts.includes(a.cut)).sort((a, b) => a.cut - b.cut).map((a) => [a.cut, 100 * a.recoveryRate] as [number, number]),
    })));
  const recovery = o.clip === null ? panel(null) : sideBySide([panel(null), panel(o.clip)]);
  const trainKeys = [...new Set(training.map((t) => `${t.cut}|${t.clipRms}|${t.labels}`))];
  const baseLoss = training[0]?.baseHeldoutLoss;
  const lossSeries = trainKeys.map((key) => {
    const pts = training.filter((t) => `${t.cut}|${t.clipRms}|${t.labels}` === key).sort((a, b) => a.sigmaRms - b.sigmaRms);
    return { name: `cut ${pts[0].cut}${pts[0].clipRms === null ? '' : ', clip'}${pts[0].labels === 'client' ? ', U-shape' : ''}`, pts };
  });
  const loss = lineChart('Held-out loss after the same steps vs. noise', 'σ / activation RMS', 'held-out NLL', [
    ...lossSeries.map((x) => ({ name: x.name, points: x.pts.map((t) => [t.sigmaRms, t.heldoutLoss] as [number, number]) })),
    ...(baseLoss !== undefined ? [{ name: 'untrained', points: [[0, baseLoss], [Math.max(...o.sigmas), baseLoss]] as [number, number][] }] : []),
  ]);
  const frontier = lineChart('Privacy/utility: held-out loss vs. token recovery', 'tokens recovered by the server (%)', 'held-out NLL (lower = trains)', [
    ...lossSeries.map((x) => ({ name: x.name, points: x.pts.filter((t) => t.recoveryRate !== null).map((t) => [100 * t.recoveryRate!, t.heldoutLoss] as [number, number]) })),
    ...(baseLoss !== undefined ? [{ name: 'untrained', points: [[0, baseLoss], [100, baseLoss]] as [number, number][] }] : []),
  ]);
  const files = ['report.md', 'privacy.json', 'recovery-vs-cut.svg'];
  await writeFile(join(dir, 'recovery-vs-cut.svg'), recovery);
  if (training.length) {
    await writeFile(join(dir, 'loss-vs-sigma.svg'), loss);
    await writeFile(join(dir, 'frontier.svg'), frontier);
    files.push('loss-vs-sigma.svg', 'frontier.svg');
  }
  await writeFile(join(dir, 'privacy.json'), JSON.stringify({ meta, ...r }, null, 2) + '\n');

  const s = r.settings;
  const deepest = Math.max(...attacks.map((a) => a.cut));
  const plainAt = (cut: number) => attacks.find((a) => a.cut === cut && a.sigmaRms === 0 && a.clipRms === null);
  const md = [
    '# What a curious server can read, and what the defences cost', '',
    `Run ${meta.startedAt} (${(meta.wallSeconds / 60).toFixed(1)} min). Command:`, '', '```', meta.command, '```', '',
    `Model ${meta.modelId} (${meta.layers} blocks × d=${meta.dModel}), backend ${meta.backend}, wire ${s.wire}; data: ${meta.dataSource}. ` +
    `The attack (\`splitlora attack\`, \`activationInversion\`) inverts the rows the volunteer sends, greedily, with the server's copy of blocks [0, cut) ` +
    `and a fresh client adapter; it knows C and σ. ${o.limit} example(s) of client 0's shard, at most ${o.maxCandidates} candidates per position. ` +
    `σ is given as a multiple of the clean activations' RMS at that cut; C as a multiple of the clean rows' RMS L2 norm (so about half the rows are clipped).`, '',
    '## What the server can learn, by configuration', '',
    fenced(['configuration', 'target ids sent', `tokens recovered from the activations (cut ${deepest}, no defence)`, 'completion tokens readable'], [
      ['labels on the server (SplitLoRA, default)', 'yes: the completion tokens', pc(plainAt(deepest)?.recoveryRate ?? null), '100 % (they are the targets)'],
      ['labels in the page (U-shape, labels "client")', 'no', pc(plainAt(deepest)?.recoveryRate ?? null), `${pc(plainAt(deepest)?.completionRecoveryRate ?? null)} (only by inverting the activations)`],
      ...o.cuts.filter((c) => c !== deepest).map((c) => [`cut ${c} instead`, 'as above', pc(plainAt(c)?.recoveryRate ?? null), 'as above']),
    ]), '',
    ...ushapeCost(training),
    'Every defence below acts on the activations only. With labels on the server the completions are sent as target ids whatever σ is; only the U-shaped split removes them, and then the activations are what is left to attack.', '',
    '## Token recovery vs. cut', '', '![recovery](recovery-vs-cut.svg)', '',
    fenced(['cut', 'clip C', 'σ', 'σ / RMS', 'recovered', 'rate', 'completion', 'cand./token', 's/example'],
      attacks.map((a) => [a.cut, a.clip === null ? '–' : `${g3(a.clip)} (${a.clipRms}×)`, g3(a.noise), a.sigmaRms, `${a.recovered}/${a.tokens}`, pc(a.recoveryRate), pc(a.completionRecoveryRate), a.candidatesPerToken.toFixed(0), a.secondsPerExample.toFixed(2)])), '',
    ...(training.length ? [
      '## Held-out loss vs. σ (the cost)', '',
      `One in-process SplitLoRA run per setting: ${s.clients} clients × ${s.steps} local steps, interval ${s.interval}, batch ${s.batch}, lr ${s.lr}, seed ${s.seed}; ` +
      `the same data and batch order in every run. The held-out loss (${meta.heldoutExamples} examples, completion NLL, no smoothing) is the final adapter's, evaluated without any defence (as the model would be used after training); ` +
      'the training loss is the server\'s, on the defended rows.', '',
      '![loss](loss-vs-sigma.svg)', '',
      fenced(['cut', 'labels', 'defence', 'held-out (base → final)', 'share of undefended gain', 'train loss first → last', 'recovery', 'protects', 'trains'],
        training.map((t) => [t.cut, t.labels, defenceName(t), `${t.baseHeldoutLoss.toFixed(3)} → ${t.heldoutLoss.toFixed(3)}`, t.gainShare === null ? '–' : `${(100 * t.gainShare).toFixed(0)} %`,
          `${t.initialTrainLoss.toFixed(3)} → ${t.finalTrainLoss.toFixed(3)}`, pc(t.recoveryRate), t.protects ? 'yes' : 'no', t.trains ? 'yes' : 'no'])), '',
      '## The privacy/utility frontier', '', '![frontier](frontier.svg)', '',
      `Settings no other setting beats on both axes: ${r.frontier.map((t) => `cut ${t.cut}, ${trainName(t)} (recovery ${pc(t.recoveryRate)}, held-out ${t.heldoutLoss.toFixed(3)})`).join('; ') || 'none'}.`, '',
    ] : []),
    '## Verdict', '', r.verdict.text, '',
    '## Caveats', '',
    '- Random-weight or small models and synthetic text: re-measure on pretrained GPT-2 before quoting these as GPT-2 results.',
    '- The attack grid uses the fresh client adapter; after training, the attacker may know the last average (`splitlora simulate --out DIR`, then `attack --adapter DIR [--attacker-fresh]`).',
    '- A greedy attack is a lower bound on what a server can recover: a stronger one (beam search, a learned inverter, averaging over aggregation rounds) may do better under noise.',
    '- Clipping alone protects nothing when the attacker knows C: it only bounds the rows so that σ means something.',
    '- Adapter uploads are gradients in disguise (DAGER-style attacks apply); this bench does not attack them. Secure aggregation is the next step.',
    '',
  ].join('\n');
  await writeFile(join(dir, 'report.md'), md);
  return files;
}

// ---- the experiment --------------------------------------------------------------------------

export interface PrivacyExperimentOptions extends PrivacyBenchOptions {
  model: SimModel;
  settings: TrainSettings;
  data: SimData;
  /** For the report: the command line and the tfjs backend. */
  command: string;
  backend: string;
}

export interface PrivacyRun {
  result: PrivacyBenchResult;
  meta: PrivacyReportMeta;
}

export const benchPrivacy: Experiment<PrivacyExperimentOptions, PrivacyRun> = {
  name: 'bench-privacy',
  description: 'what a curious server recovers from the cut activations vs cut and noise σ (with/without clipping), what the same defences cost in held-out loss after the same steps, and the privacy/utility frontier; writes report.md, SVGs and privacy.json',
  defaults: { sigmas: [0, 0.5, 1, 2, 4], clip: 1, limit: 3, maxCandidates: 512, protectBelow: 0.1, trainShare: 0.5, ushape: true },
  async run(o, hooks) {
    const { model, settings: s, data } = o;
    const bench: PrivacyBenchOptions = { cuts: o.cuts, sigmas: o.sigmas, clip: o.clip, limit: o.limit, maxCandidates: o.maxCandidates, trainCuts: o.trainCuts, protectBelow: o.protectBelow, trainShare: o.trainShare, ushape: o.ushape };
    const weights = toWeights(model.weights);
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    hooks.log(`bench-privacy: cuts ${o.cuts.join(',')}, σ ${o.sigmas.join(',')}×RMS, ${o.clip === null ? 'no clip' : `clip ${o.clip}× row RMS`}; training at ${o.trainCuts.join(',') || '(none)'}: ${s.clients} clients × ${s.steps} steps`);
    // One bar per stretch between log lines: a line ends the bar, the next item starts another.
    let bar: Progress | null = null;
    try {
      const result = await runPrivacyBench(model, weights, s, data, bench, {
        log: (m) => { bar?.stop(); bar = null; hooks.log(m); },
        onItem: (done, total, label) => {
          bar ??= hooks.progress?.('bench-privacy', total) ?? NO_PROGRESS;
          bar.update(done - 1, label);
        },
      });
      (bar as Progress | null)?.stop();
      const meta: PrivacyReportMeta = {
        command: o.command, modelId: model.id, layers: model.config.nLayer, dModel: model.config.nEmbd, dataSource: data.source,
        heldoutExamples: data.heldout.length, backend: o.backend, startedAt, wallSeconds: (performance.now() - t0) / 1000,
      };
      return { result, meta };
    } finally {
      disposeWeights(weights);
    }
  },
  /** Writes report.md, the SVGs and privacy.json; the text is the verdict. */
  async report({ result, meta }, dir) {
    if (!dir) throw new Error('bench-privacy: the report needs a folder');
    const files = await writePrivacyReport(dir, result, meta);
    return { json: { attacks: result.attacks, training: result.training, frontier: result.frontier, verdict: result.verdict.text }, text: result.verdict.text, files: files.map((f) => join(dir, f)) };
  },
};
