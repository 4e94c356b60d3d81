// AdamW as SplitLoRA's (microsoft/LoRA) optimiser: bias-corrected Adam step, then decoupled
// weight decay p -= lr·wd·p. State is named tensors, so it can be checkpointed and resumed.
import * as tf from '@tensorflow/tfjs';
import type { TensorRecord } from '@splitlora/tensor';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Multiplier on lr at (1-based) step t. */
  schedule?: (step: number) => number;
}

export const SPLITLORA_ADAMW: Omit<AdamWConfig, 'lr'> = { beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };

/** Linear warm-up over `warmup` steps, then linear decay to 0 at `total`. */
export function linearSchedule(warmup: number, total: number): (step: number) => number {
  return (t) => {
    if (warmup > 0 && t < warmup) return t / warmup;
    if (total <= warmup) return 1;
    return Math.max(0, (total - t) / (total - warmup));
  };
}

function zeroVariable(like: tf.Tensor): tf.Variable {
  const z = tf.zerosLike(like);
  const v = tf.variable(z, false);
  z.dispose(); // the variable keeps its own reference to the data
  return v;
}

export class AdamW {
  step = 0;
  private m: Record<string, tf.Variable> = {};
  private v: Record<string, tf.Variable> = {};

  constructor(public cfg: AdamWConfig) {}

  currentLr(): number {
    return this.cfg.lr * (this.cfg.schedule ? this.cfg.schedule(this.step) : 1);
  }

  /** One update of `params` (variables) from `grads`, matched by name. Disposes nothing it was given. */
  apply(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>): void {
    this.step += 1;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.cfg;
    const lr = this.currentLr();
    const stepSize = (lr * Math.sqrt(1 - b2 ** this.step)) / (1 - b1 ** this.step);
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name];
      if (!g) throw new Error(`adamw: no gradient for "${name}"`);
      this.m[name] ??= zeroVariable(p);
      this.v[name] ??= zeroVariable(p);
      const m = this.m[name];
      const v = this.v[name];
      tf.tidy(() => {
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        let next = tf.sub(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v), eps)), stepSize));
        if (weightDecay > 0) next = tf.sub(next, tf.mul(next, lr * weightDecay));
        p.assign(next);
      });
    }
  }

  async exportState(): Promise<{ step: number; m: TensorRecord; v: TensorRecord }> {
    const dump = async (r: Record<string, tf.Variable>) => {
      const out: TensorRecord = {};
      for (const [k, t] of Object.entries(r)) out[k] = { shape: t.shape, data: (await t.data()) as Float32Array };
      return out;
    };
    return { step: this.step, m: await dump(this.m), v: await dump(this.v) };
  }

  importState(state: { step: number; m: TensorRecord; v: TensorRecord }): void {
    this.dispose();
    this.step = state.step;
    const load = (t: { data: Float32Array; shape: number[] }) => {
      const init = tf.tensor(t.data, t.shape);
      const v = tf.variable(init, false);
      init.dispose();
      return v;
    };
    for (const [k, t] of Object.entries(state.m)) this.m[k] = load(t);
    for (const [k, t] of Object.entries(state.v)) this.v[k] = load(t);
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
    this.m = {};
    this.v = {};
  }
}
