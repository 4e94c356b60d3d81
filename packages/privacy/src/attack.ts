// Activation inversion: what a curious server can reconstruct from the cut activations alone.
//
// Capture: the volunteer's forward pass exactly as packages/client's Volunteer runs it
// (ClientModel.forward, LoRA dropout seeded by stepDropoutSeed, its adapter), optionally clipped
// and noised, then encoded in the run's wire format and decoded as the server decodes it.
//
// Attack: the server holds the base blocks [0, k) and (at best) the last averaged client adapter.
// Causal attention makes row t depend on tokens ≤ t only, so it recovers the ids greedily, left to
// right: for position t it runs many candidate tokens at once behind the already-recovered prefix
// (its KV cache tiled per candidate), and keeps the candidate whose row lies nearest the observed
// one. Candidates are tried in the order of a cheap shortlist: the distance of each token's block-0
// input wte[v] + wpe[t] to a linear probe's estimate of it from the observed row (probe.ts).
// Without noise the search stops as soon as a candidate explains the row to within the wire's
// rounding; with noise it scores them all.
import * as tf from '@tensorflow/tfjs';
import { stepDropoutSeed } from '@splitlora/client';
import { makeBatch, type EncodedExample } from '@splitlora/data';
import {
  ClientModel, SPLITLORA_ADAMW, embed, initLora, loraShapes, runBlocksNoGrad,
  type GPT2Config, type LayerCache, type Lora, type LoraConfig, type TensorRecord, type Weights,
} from '@splitlora/model';
import { decodeTensor, encodeTensor, WIRE_FORMATS, type WireFormat } from '@splitlora/protocol';
import { applyDefence, checkDefence, noiseKeyFromSeed, type ActivationDefence } from '@splitlora/client';
import { applyProbe, fitProbe, type Probe } from './probe';

export interface AttackOptions extends ActivationDefence {
  config: GPT2Config;
  /** Base weights; wte, wpe and blocks [0, cut) are used (the client's part, which the server also holds). */
  weights: Weights;
  cut: number;
  lora: LoraConfig;
  /** Run seed: seeds the fresh adapter init, as the server does for every client. */
  seed?: number;
  /** The volunteer's adapter (blocks [0, cut); extra blocks are ignored). Default: the fresh init. */
  clientAdapter?: TensorRecord;
  /** The adapter the attacker assumes (e.g. the last average). Default: the fresh init. */
  attackerAdapter?: TensorRecord;
  /** The volunteer's data-order seed, which seeds its dropout masks (stepDropoutSeed). */
  volunteerSeed?: number;
  // noiseKey (from ActivationDefence): the volunteer's secret, which the attacker never uses.
  // Default: one derived from volunteerSeed, so that runs are reproducible.
  /** Examples per step, as the volunteer batches them (dropout masks depend on the row). */
  batch?: number;
  /** Longest input per row (the run's seqLen). Default: the model's positions. */
  seqLen?: number;
  /** Wire format of the activations (the run's wire.acts). Default f16. */
  wire?: WireFormat;
  /** Candidates tried per position at most, in shortlist order. Default min(4096, V). */
  maxCandidates?: number;
  /**
   * Candidate order: 'probe' (default) ranks by a linear probe fitted on the attacker's own rows of
   * random text; 'embedding' by the raw distance of the row to wte[v] + wpe[t].
   */
  shortlist?: 'probe' | 'embedding';
  /** Candidates per forward call. Default 1024 (fewer when the tiled cache would be large). */
  candidateBatch?: number;
  /** After each example. */
  onExample?: (done: number, total: number) => void;
  /** After each position of a row: its index, the row's length, the candidates scored for it, the distance² of the pick. */
  onToken?: (t: number, length: number, scored: number, distance: number) => void;
}

export interface AttackResult {
  cut: number;
  examples: number;
  /** Input positions attacked (every real token of every row; padding excluded). */
  tokens: number;
  /** Positions whose token id was recovered exactly. */
  recovered: number;
  recoveryRate: number;
  /** Completion tokens among the inputs (the loss-masked part: what the volunteer came to keep private). */
  completionTokens: number;
  completionRecovered: number;
  completionRecoveryRate: number;
  noise: number;
  clip: number | null;
  wire: WireFormat;
  /** RMS of the clean activations (before any defence): the scale to read `noise` against. */
  activationRms: number;
  /** Mean candidates scored per position (the search cost). */
  candidatesPerToken: number;
  secondsPerExample: number;
}

/** One example's outcome, for tests and reports. */
export interface RowAttack {
  truth: number[];
  guess: number[];
  /** First completion position (context length): positions ≥ this are completion tokens. */
  completionFrom: number;
}

/** Relative distance (to the observed row's norm) below which a candidate counts as an exact match. */
const MATCH_TOLERANCE: Record<WireFormat, number> = { f32: 1e-3, f16: 5e-3, int8: 3e-2 };

/** Candidates in the first forward call of a position; later calls double up to candidateBatch. */
const FIRST_BATCH = 32;

/** Bytes of tiled cache per candidate batch at most: keeps GPT-2 S inside wasm's 4 GB. */
const CACHE_BUDGET_BYTES = 256 * 2 ** 20;

/** The adapter tensors of blocks [0, cut), checked against the expected shapes. */
export function clientSlice(config: GPT2Config, lora: LoraConfig, cut: number, adapter: TensorRecord): TensorRecord {
  const out: TensorRecord = {};
  for (const [name, shape] of Object.entries(loraShapes(config, lora, 0, cut))) {
    const t = adapter[name];
    if (!t) throw new Error(`adapter: missing tensor "${name}" for the client blocks [0, ${cut})`);
    if (t.shape.join() !== shape.join()) throw new Error(`adapter: "${name}" has shape [${t.shape}], expected [${shape}]`);
    out[name] = t;
  }
  return out;
}

/** What goes on the wire for one batch, decoded as the server decodes it: [B·T·d]. */
export async function captureActivations(model: ClientModel, ids: Int32Array, B: number, T: number, dropoutSeed: number, wire: WireFormat, defence: ActivationDefence, step: number): Promise<{ wire: Float32Array; clean: Float32Array }> {
  const acts = model.forward(ids, B, T, dropoutSeed);
  const clean = (await acts.data()) as Float32Array;
  acts.dispose();
  const data = applyDefence(Float32Array.from(clean), model.config.nEmbd, defence, step);
  return { wire: decodeTensor(encodeTensor({ shape: [B, T, model.config.nEmbd], data }, wire)).data, clean };
}

/**
 * Shortlist order per position: token ids sorted by the distance of the observed row o_t to the
 * block-0 input wte[v] + wpe[t] (clipped like the rows when a clip is known). [L][k].
 */
async function shortlist(config: GPT2Config, weights: Weights, observed: tf.Tensor2D, k: number, clip: number | undefined): Promise<Int32Array[]> {
  const L = observed.shape[0];
  const idx = tf.tidy(() => {
    const wte = weights['wte.weight'] as tf.Tensor2D; // [V, d]
    const pos = tf.slice(weights['wpe.weight'], [0, 0], [L, config.nEmbd]) as tf.Tensor2D; // [L, d]
    const oe = tf.matMul(observed, wte, false, true); // [L, V]
    const pe = tf.matMul(pos, wte, false, true); // [L, V]
    const e2 = tf.sum(tf.square(wte), 1); // [V]
    const p2 = tf.sum(tf.square(pos), 1, true); // [L, 1]
    const op = tf.sum(tf.mul(observed, pos), 1, true); // [L, 1]
    const x2 = tf.add(tf.add(e2, tf.mul(2, pe)), p2); // |x|² [L, V]
    const ox = tf.add(oe, op); // o·x [L, V]
    // dist² − |o|² = −2s·o·x + s²·|x|², s = min(1, C/|x|)
    const s = clip === undefined ? tf.onesLike(x2) : tf.minimum(1, tf.div(clip, tf.sqrt(x2)));
    const score = tf.sub(tf.mul(tf.square(s), x2), tf.mul(tf.mul(2, s), ox));
    return tf.topk(tf.neg(score), k).indices; // [L, k]
  });
  const data = (await idx.data()) as Int32Array;
  idx.dispose();
  return Array.from({ length: L }, (_, t) => data.subarray(t * k, (t + 1) * k));
}

function tensorLora(cfg: LoraConfig, rec: TensorRecord): Lora {
  return { cfg, params: Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, tf.tensor(t.data, t.shape)])) };
}

/** The attacker's state for one row: its copy of the client blocks and the recovered prefix's KV cache. */
class Inverter {
  private cache: LayerCache[];
  private length = 0;

  constructor(private readonly config: GPT2Config, private readonly weights: Weights, private readonly cut: number, private readonly lora: Lora, private readonly clip: number | undefined) {
    const { nHead: H, nEmbd: d } = config;
    this.cache = Array.from({ length: cut }, () => ({ k: tf.zeros([1, H, 0, d / H]) as tf.Tensor4D, v: tf.zeros([1, H, 0, d / H]) as tf.Tensor4D }));
  }

  /** Rows [C, d] of candidates `ids` at the next position, behind the recovered prefix. */
  private rows(ids: Int32Array): tf.Tensor2D {
    const C = ids.length;
    const tiled = this.cache.map((c) => ({ k: tf.tile(c.k, [C, 1, 1, 1]) as tf.Tensor4D, v: tf.tile(c.v, [C, 1, 1, 1]) as tf.Tensor4D }));
    try {
      return this.run(ids, tiled);
    } finally {
      for (const c of tiled) tf.dispose([c.k, c.v]);
    }
  }

  private run(ids: Int32Array, cache: LayerCache[]): tf.Tensor2D {
    const C = ids.length;
    const x = tf.tidy(() => embed(this.config, this.weights, tf.tensor2d(ids, [C, 1], 'int32'), this.length));
    const h = runBlocksNoGrad(this.config, this.weights, x, C, 1, 0, this.cut, { lora: this.lora, dropout: null, cache, transposedCopies: false });
    if (h !== x) x.dispose();
    if (this.clip === undefined) return h;
    const clipped = tf.tidy(() => tf.mul(h, tf.minimum(1, tf.div(this.clip!, tf.norm(h, 2, 1, true)))) as tf.Tensor2D);
    h.dispose();
    return clipped;
  }

  /** Squared distances [C] of the candidates' rows to the observed row o [1, d]. */
  async distances(ids: Int32Array, observed: tf.Tensor2D): Promise<Float32Array> {
    const rows = this.rows(ids);
    const d2 = tf.tidy(() => tf.sum(tf.square(tf.sub(rows, observed)), 1));
    rows.dispose();
    const out = (await d2.data()) as Float32Array;
    d2.dispose();
    return out;
  }

  /** Appends the chosen token to the prefix (extends the KV cache). */
  accept(id: number): void {
    tf.dispose(this.run(Int32Array.of(id), this.cache));
    this.length += 1;
  }

  /** Candidates per forward call that keep the tiled cache (and its concatenated copy) in budget. */
  batchLimit(): number {
    const perCandidate = 2 * 2 * this.cut * (this.length + 1) * this.config.nEmbd * 4;
    return Math.max(16, Math.floor(CACHE_BUDGET_BYTES / perCandidate));
  }

  dispose(): void {
    for (const c of this.cache) tf.dispose([c.k, c.v]);
  }
}

/**
 * Recovers the ids of one row from its observed rows [L, d], greedily left to right. Returns the
 * guesses and the candidates scored.
 */
export async function invertRow(opts: { config: GPT2Config; weights: Weights; cut: number; lora: Lora; clip?: number; noise?: number; wire: WireFormat; maxCandidates: number; candidateBatch: number; onToken?: AttackOptions['onToken']; probe?: Probe }, observed: Float32Array, L: number): Promise<{ guess: number[]; scored: number }> {
  const d = opts.config.nEmbd;
  const obs = tf.tensor2d(observed.subarray(0, L * d), [L, d]);
  let order: Int32Array[];
  if (opts.probe) {
    const estimate = applyProbe(opts.probe, obs); // estimates the unclipped block-0 input
    order = await shortlist(opts.config, opts.weights, estimate, opts.maxCandidates, undefined).finally(() => estimate.dispose());
  } else {
    order = await shortlist(opts.config, opts.weights, obs, opts.maxCandidates, opts.clip);
  }
  const inv = new Inverter(opts.config, opts.weights, opts.cut, opts.lora, opts.clip);
  const guess: number[] = [];
  let scored = 0;
  try {
    for (let t = 0; t < L; t++) {
      const row = observed.subarray(t * d, (t + 1) * d);
      let norm2 = 0;
      for (const v of row) norm2 += v * v;
      // Under noise no candidate matches exactly (and a wrong one may land within the noise): search them all.
      const tol = opts.noise ? -1 : MATCH_TOLERANCE[opts.wire] ** 2 * norm2;
      const o = tf.tensor2d(row, [1, d]);
      let best = -1;
      let bestD = Infinity;
      const scoredBefore = scored;
      try {
        // Small first batches: with a good shortlist the match is usually among the first few.
        const limit = Math.min(opts.candidateBatch, inv.batchLimit());
        for (let i = 0, step = Math.min(FIRST_BATCH, limit); i < order[t].length && bestD > tol; i += step, step = Math.min(2 * step, limit)) {
          const ids = order[t].subarray(i, i + step);
          const dist = await inv.distances(ids, o);
          scored += ids.length;
          for (let j = 0; j < dist.length; j++) {
            if (dist[j] < bestD) {
              bestD = dist[j];
              best = ids[j];
            }
          }
        }
      } finally {
        o.dispose();
      }
      guess.push(best);
      inv.accept(best);
      opts.onToken?.(t, L, scored - scoredBefore, bestD);
    }
  } finally {
    inv.dispose();
    obs.dispose();
  }
  return { guess, scored };
}

/** Captures every example's activations as its volunteer would send them, then inverts each row. */
export async function activationInversion(examples: readonly EncodedExample[], o: AttackOptions, rowSink?: (r: RowAttack) => void): Promise<AttackResult> {
  const { config, weights, cut, lora } = o;
  if (!(Number.isInteger(cut) && cut >= 1 && cut < config.nLayer)) throw new Error(`cut must be an integer in 1..${config.nLayer - 1}, got ${cut}`);
  if (examples.length === 0) throw new Error('attack: no examples');
  checkDefence(o);
  const wire = o.wire ?? 'f16';
  if (!WIRE_FORMATS.includes(wire)) throw new Error(`unknown wire format "${wire}"; use one of ${WIRE_FORMATS.join(', ')}`);
  const seqLen = o.seqLen ?? config.nPositions;
  if (!(Number.isInteger(seqLen) && seqLen >= 1 && seqLen <= config.nPositions)) throw new Error(`seqLen must be an integer in 1..${config.nPositions}, got ${seqLen}`);
  const batch = o.batch ?? 8;
  const maxCandidates = Math.min(o.maxCandidates ?? 4096, config.vocabSize);
  const candidateBatch = o.candidateBatch ?? 1024;
  const defence: ActivationDefence = { actClip: o.actClip, actNoise: o.actNoise, noiseKey: o.noiseKey ?? noiseKeyFromSeed(o.volunteerSeed ?? 0) };
  const fresh = initLora(config, lora, 0, cut, o.seed ?? 0);
  const clientAdapter = o.clientAdapter ? clientSlice(config, lora, cut, o.clientAdapter) : fresh;
  const attackerLora = tensorLora(lora, o.attackerAdapter ? clientSlice(config, lora, cut, o.attackerAdapter) : fresh);
  const probeLength = Math.min(64, seqLen);
  const probe = (o.shortlist ?? 'probe') === 'probe'
    ? await fitProbe(config, weights, cut, attackerLora, { sequences: Math.max(8, Math.ceil((4 * (config.nEmbd + 1)) / probeLength)), length: probeLength, seed: o.seed ?? 0, clip: o.actClip })
    : undefined;
  const model = new ClientModel(config, weights, cut, { lora, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, adapter: clientAdapter, transposedCopies: false });
  const t0 = performance.now();
  const acc = { tokens: 0, recovered: 0, completionTokens: 0, completionRecovered: 0, scored: 0, sq: 0 };
  try {
    for (let s0 = 0, step = 0; s0 < examples.length; s0 += batch, step++) {
      const group = examples.slice(s0, s0 + batch);
      const b = makeBatch(group, { maxLen: seqLen });
      const T = b.seqLen;
      const { wire: acts, clean } = await captureActivations(model, b.ids, b.batch, T, stepDropoutSeed(o.volunteerSeed ?? 0, step), wire, defence, step);
      for (let r = 0; r < b.batch; r++) {
        const e = group[r];
        const L = Math.min(e.context.length + e.completion.length, seqLen + 1) - 1; // real input positions of this row
        const truth = Array.from(b.ids.subarray(r * T, r * T + L));
        const rowActs = acts.subarray(r * T * config.nEmbd, (r * T + L) * config.nEmbd);
        for (const v of clean.subarray(r * T * config.nEmbd, (r * T + L) * config.nEmbd)) acc.sq += v * v;
        const { guess, scored } = await invertRow({ config, weights, cut, lora: attackerLora, clip: o.actClip, noise: o.actNoise, wire, maxCandidates, candidateBatch, onToken: o.onToken, probe }, rowActs, L);
        acc.scored += scored;
        acc.tokens += L;
        for (let t = 0; t < L; t++) {
          const hit = guess[t] === truth[t] ? 1 : 0;
          acc.recovered += hit;
          if (t >= e.context.length) {
            acc.completionTokens += 1;
            acc.completionRecovered += hit;
          }
        }
        rowSink?.({ truth, guess, completionFrom: e.context.length });
        o.onExample?.(s0 + r + 1, examples.length);
      }
    }
  } finally {
    model.dispose();
    tf.dispose([...Object.values(attackerLora.params), ...(probe ? [probe.W] : [])]);
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  return {
    cut,
    examples: examples.length,
    tokens: acc.tokens,
    recovered: acc.recovered,
    recoveryRate: ratio(acc.recovered, acc.tokens),
    completionTokens: acc.completionTokens,
    completionRecovered: acc.completionRecovered,
    completionRecoveryRate: ratio(acc.completionRecovered, acc.completionTokens),
    noise: o.actNoise ?? 0,
    clip: o.actClip ?? null,
    wire,
    activationRms: Math.sqrt(ratio(acc.sq, acc.tokens * config.nEmbd)),
    candidatesPerToken: ratio(acc.scored, acc.tokens),
    secondsPerExample: (performance.now() - t0) / 1000 / examples.length,
  };
}
