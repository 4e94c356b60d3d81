// Checks beyond the schema for the two heavy messages. Run them after validate(): the schema
// guarantees the types, these guarantee the tensors are usable by the model (shapes agree with
// the run, values are finite and in range) so the server never feeds a bad tensor to tfjs.

import { ProtocolError } from './errors';
import type { ActivationsMessage, AdapterMessage, ClientState, FrontMessage, TopGradientMessage } from './messages';
import { assertFinite, assertWireFinite, checkWireTensor, numel } from './wire';

export interface ActivationLimits {
  dModel: number;
  maxBatch: number;
  maxSeqLen: number;
  /** When given, targets at masked-in positions must be token ids in [0, vocabSize). */
  vocabSize?: number;
}

/** Throws E_TOO_LARGE, E_SHAPE, E_NONFINITE or E_RANGE; returns nothing when the message is usable. */
export function checkActivations(msg: ActivationsMessage, lim: ActivationLimits): void {
  const { batch, seqLen, acts, targets, mask } = msg;
  if (batch > lim.maxBatch || seqLen > lim.maxSeqLen) {
    throw new ProtocolError(
      'E_TOO_LARGE',
      `activations: batch ${batch} × seqLen ${seqLen} exceeds the run's limit ${lim.maxBatch} × ${lim.maxSeqLen}`,
    );
  }
  const want = [batch, seqLen, lim.dModel];
  if (acts.shape.length !== 3 || acts.shape.some((s, i) => s !== want[i])) {
    throw new ProtocolError('E_SHAPE', `activations.acts: shape [${acts.shape.join(', ')}] should be [${want.join(', ')}]`);
  }
  checkWireTensor('activations.acts', acts);
  const n = batch * seqLen;
  if (targets.length !== n) throw new ProtocolError('E_SHAPE', `activations.targets: ${targets.length} ids, need batch·seqLen = ${n}`);
  if (mask.length !== n) throw new ProtocolError('E_SHAPE', `activations.mask: ${mask.length} values, need batch·seqLen = ${n}`);

  assertWireFinite('activations.acts', acts);
  assertFinite('activations.mask', mask);
  let selected = 0;
  for (let i = 0; i < n; i++) {
    const m = mask[i];
    if (m < 0 || m > 1) throw new ProtocolError('E_RANGE', `activations.mask[${i}] is ${m}; mask values must be in [0, 1]`);
    if (m === 0) continue;
    selected += m;
    const t = targets[i];
    if (t < 0 || (lim.vocabSize !== undefined && t >= lim.vocabSize)) {
      throw new ProtocolError('E_RANGE', `activations.targets[${i}] is ${t}; token ids must be in [0, ${lim.vocabSize ?? '∞'})`);
    }
  }
  // The loss is sum(loss·mask)/sum(mask): an empty mask would make it 0/0.
  if (!(selected > 0)) throw new ProtocolError('E_RANGE', 'activations.mask selects no tokens; skip batches without completion tokens');
}

/** U-shaped `front`: the same size, shape and finiteness checks as activations, with nothing else to check. */
export function checkFront(msg: FrontMessage, lim: ActivationLimits): void {
  const { batch, seqLen, acts } = msg;
  if (batch > lim.maxBatch || seqLen > lim.maxSeqLen) {
    throw new ProtocolError('E_TOO_LARGE', `front: batch ${batch} × seqLen ${seqLen} exceeds the run's limit ${lim.maxBatch} × ${lim.maxSeqLen}`);
  }
  const want = [batch, seqLen, lim.dModel];
  if (acts.shape.length !== 3 || acts.shape.some((s, i) => s !== want[i])) {
    throw new ProtocolError('E_SHAPE', `front.acts: shape [${acts.shape.join(', ')}] should be [${want.join(', ')}]`);
  }
  checkWireTensor('front.acts', acts);
  assertWireFinite('front.acts', acts);
}

/** U-shaped `top-gradient`: must have exactly the shape of the `top` it answers, and be finite. */
export function checkTopGradient(msg: TopGradientMessage, topShape: readonly number[]): void {
  const { grad } = msg;
  if (grad.shape.length !== topShape.length || grad.shape.some((s, i) => s !== topShape[i])) {
    throw new ProtocolError('E_SHAPE', `top-gradient.grad: shape [${grad.shape.join(', ')}] should be [${topShape.join(', ')}], the shape of step ${msg.step}'s top`);
  }
  checkWireTensor('top-gradient.grad', grad);
  assertWireFinite('top-gradient.grad', grad);
}

export interface AdapterLimits {
  /** Largest L2 norm allowed for any one tensor; LoRA factors are O(1), so e.g. 1e3 flags garbage. */
  maxNorm: number;
  /** When given, the upload's example count must be ≤ this (the count the client declared in hello). */
  maxExamples?: number;
}

/**
 * Checks an adapter upload against the expected names and shapes: no missing or extra tensors,
 * exact shapes, finite values, bounded norms, a positive example count, and the client state
 * that may come with it (checkClientState).
 */
export function checkAdapter(msg: AdapterMessage, expected: Record<string, readonly number[]>, lim: AdapterLimits): void {
  if (!(msg.examples > 0)) throw new ProtocolError('E_RANGE', 'adapter.examples must be positive; a client without data cannot contribute');
  if (lim.maxExamples !== undefined && msg.examples > lim.maxExamples) {
    throw new ProtocolError('E_RANGE', `adapter.examples is ${msg.examples}, above the ${lim.maxExamples} this client declared`);
  }
  const missing = Object.keys(expected).filter((k) => !Object.prototype.hasOwnProperty.call(msg.tensors, k));
  const extra = Object.keys(msg.tensors).filter((k) => !Object.prototype.hasOwnProperty.call(expected, k));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `missing ${list(missing)}` : '', extra.length ? `unexpected ${list(extra)}` : ''];
    throw new ProtocolError('E_SHAPE', `adapter.tensors: ${parts.filter(Boolean).join('; ')}; check the run's LoRA targets and rank`);
  }
  for (const [name, shape] of Object.entries(expected)) {
    const t = msg.tensors[name];
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new ProtocolError('E_SHAPE', `adapter.tensors["${name}"]: shape [${t.shape.join(', ')}] should be [${shape.join(', ')}]`);
    }
    if (t.data.length !== numel(shape)) {
      throw new ProtocolError('E_SHAPE', `adapter.tensors["${name}"]: ${t.data.length} values, need ${numel(shape)}`);
    }
    assertFinite(`adapter.tensors["${name}"]`, t.data);
    let sq = 0;
    for (let i = 0; i < t.data.length; i++) sq += t.data[i] * t.data[i];
    const norm = Math.sqrt(sq);
    if (norm > lim.maxNorm) {
      throw new ProtocolError('E_RANGE', `adapter.tensors["${name}"]: L2 norm ${norm.toPrecision(4)} exceeds ${lim.maxNorm}`);
    }
  }
  if (msg.state) checkClientState(msg.state, expected, msg.examples);
}

/**
 * Checks a client's training state against the adapter shapes and the examples the client
 * declared: the AdamW moments must name exactly the adapter's tensors with the same shapes,
 * be finite, and v (a running mean of squares) must be ≥ 0; the data order must fit the data.
 */
export function checkClientState(state: ClientState, expected: Record<string, readonly number[]>, examples: number): void {
  const { m, v } = state.optimizer;
  for (const [which, rec] of [['m', m], ['v', v]] as const) {
    const what = `adapter.state.optimizer.${which}`;
    const missing = Object.keys(expected).filter((k) => !Object.prototype.hasOwnProperty.call(rec, k));
    const extra = Object.keys(rec).filter((k) => !Object.prototype.hasOwnProperty.call(expected, k));
    if (missing.length || extra.length) {
      const parts = [missing.length ? `missing ${list(missing)}` : '', extra.length ? `unexpected ${list(extra)}` : ''];
      throw new ProtocolError('E_SHAPE', `${what}: ${parts.filter(Boolean).join('; ')}`);
    }
    for (const [name, shape] of Object.entries(expected)) {
      const t = rec[name];
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]) || t.data.length !== numel(shape)) {
        throw new ProtocolError('E_SHAPE', `${what}["${name}"]: shape [${t.shape.join(', ')}] with ${t.data.length} values should be [${shape.join(', ')}]`);
      }
      assertFinite(`${what}["${name}"]`, t.data);
      if (which === 'v') {
        for (let i = 0; i < t.data.length; i++) {
          if (t.data[i] < 0) throw new ProtocolError('E_RANGE', `${what}["${name}"][${i}] is ${t.data[i]}; second moments cannot be negative`);
        }
      }
    }
  }
  const d = state.dataOrder;
  if (d.examples !== examples) throw new ProtocolError('E_RANGE', `adapter.state.dataOrder is over ${d.examples} examples, but this client declared ${examples}`);
  if (d.cursor >= d.examples) throw new ProtocolError('E_RANGE', `adapter.state.dataOrder.cursor ${d.cursor} is past the ${d.examples} examples`);
}

function list(names: string[]): string {
  const shown = names.slice(0, 5).map((n) => `"${n.slice(0, 64)}"`);
  return shown.join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
}
