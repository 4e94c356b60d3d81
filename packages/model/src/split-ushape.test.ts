// The U-shaped split (labels: "client"): the client holds embeddings, blocks [0, k), ln_f and the
// tied head; the server holds blocks [k, L). Two round trips must give exactly the unsplit model's
// loss and gradients, and packing several clients' steps into one server batch must change nothing.
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TensorRecord } from '@splitlora/tensor';
import { initGpt2Weights } from './checkpoint/init';
import { clientTensorNames } from './checkpoint/hf-gpt2';
import { ClientModel, FullModel, MiddleModel, toWeights } from './split';
import { cfg, loraCfg, optimizer, randomAdapter } from '../../../test/kit/split';


const sliceRecord = (rec: TensorRecord, from: number, to: number): TensorRecord =>
  Object.fromEntries(Object.entries(rec).filter(([k]) => { const i = Number(k.split('.')[1]); return i >= from && i < to; }));

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
};
const data = async (t: tf.Tensor) => (await t.data()) as Float32Array;

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

describe('U-shaped split equals the whole model', () => {
  const B = 3, T = 7;
  const ids = Int32Array.from({ length: B * T }, (_, j) => (j * 31 + 7) % cfg.vocabSize);
  const targets = Int32Array.from({ length: B * T }, (_, j) => (j * 17 + 3) % cfg.vocabSize);
  const mask = Float32Array.from({ length: B * T }, (_, j) => (j % T >= 2 ? 1 : 0));
  const all = initGpt2Weights(cfg, 1);
  const weights = toWeights(all);
  const adapter = randomAdapter(5);
  const seed = 1234; // the same dropout masks on every path

  it('the client part of a U-shaped run holds ln_f besides wte, wpe and its blocks', () => {
    const names = clientTensorNames(cfg, 1, { head: true });
    expect(names).toEqual([...clientTensorNames(cfg, 1), 'ln_f.weight', 'ln_f.bias']);
  });

  for (const cut of [1, 3]) {
    it(`cut=${cut}: loss and every LoRA gradient (client and server) within 1e-4 relative`, async () => {
      const full = new FullModel(cfg, weights, { lora: loraCfg, optimizer, adapter });
      const ref = full.grads({ ids, targets, mask, batch: B, seqLen: T }, { smoothing: 0.1, dropoutSeed: seed });
      // The client's weights are only what its download file holds (ln_f included).
      const clientWeights = toWeights(Object.fromEntries(clientTensorNames(cfg, cut, { head: true }).map((n) => [n, all[n]])));
      const client = new ClientModel(cfg, clientWeights, cut, { lora: loraCfg, optimizer, adapter: sliceRecord(adapter, 0, cut) });
      const server = new MiddleModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: sliceRecord(adapter, cut, cfg.nLayer) });

      const acts = client.forward(ids, B, T, seed); // round trip 1: h_k up, h_L down
      const top = server.forward(acts, { seed });
      const { loss, gradTop } = client.topGrad(top, targets, mask, 0.1); // in the page
      const s = server.grads(acts, gradTop, { seed }); // round trip 2: ∂h_L up, ∂h_k down
      const c = client.grads(ids, B, T, seed, s.gradActs);

      const want = (await data(ref.loss))[0];
      expect(Math.abs((await data(loss))[0] - want) / want).toBeLessThan(1e-4);
      const got = { ...c, ...s.grads };
      expect(Object.keys(got).sort()).toEqual(Object.keys(ref.grads).sort());
      for (const [name, g] of Object.entries(ref.grads)) {
        const w = await data(g);
        expect(w.some((x) => x !== 0), name).toBe(true);
        expect(relErr(await data(got[name]), w), name).toBeLessThan(1e-4);
      }
      tf.dispose([acts, top, loss, gradTop, s.gradActs, ref.loss, ...Object.values(ref.grads), ...Object.values(got)]);
      full.dispose(); client.dispose(); server.dispose();
      for (const t of Object.values(clientWeights)) t.dispose();
    });
  }

  it('two clients packed into one server batch (own seeds, own lengths, padded) get what each would alone', async () => {
    const cut = 2;
    const server = new MiddleModel(cfg, weights, cut, { lora: loraCfg, optimizer, adapter: sliceRecord(adapter, cut, cfg.nLayer) });
    const T1 = 7, T2 = 4, B1 = 2, B2 = 3, d = cfg.nEmbd;
    const a1 = tf.randomNormal([B1, T1, d], 0, 1, 'float32', 1);
    const a2 = tf.randomNormal([B2, T2, d], 0, 1, 'float32', 2);
    const g1 = tf.randomNormal([B1, T1, d], 0, 1, 'float32', 3);
    const g2 = tf.randomNormal([B2, T2, d], 0, 1, 'float32', 4);
    const alone1 = server.grads(a1, g1, { seed: 11 });
    const alone2 = server.grads(a2, g2, { seed: 22 });
    const pad = (t: tf.Tensor, Tc: number) => tf.pad(t, [[0, 0], [0, T1 - Tc], [0, 0]]);
    const packedActs = tf.concat([a1, pad(a2, T2)], 0);
    const packedGrad = tf.concat([g1, pad(g2, T2)], 0);
    const segments = [{ seed: 11, batch: B1, seqLen: T1, paddedLen: T1 }, { seed: 22, batch: B2, seqLen: T2, paddedLen: T1 }];
    const packed = server.grads(packedActs, packedGrad, { segments });
    const top = server.forward(packedActs, { segments });
    const top2 = server.forward(a2, { seed: 22 });
    const topSlice = tf.slice(top, [B1, 0, 0], [B2, T2, d]);
    expect(relErr(await data(topSlice), await data(top2))).toBeLessThan(1e-6);
    const g = await data(packed.gradActs);
    expect(relErr(g.subarray(0, B1 * T1 * d), await data(alone1.gradActs))).toBeLessThan(1e-5);
    const second = tf.slice(packed.gradActs, [B1, 0, 0], [B2, T2, d]);
    expect(relErr(await data(second), await data(alone2.gradActs))).toBeLessThan(1e-5);
    for (const [name, t] of Object.entries(packed.grads)) {
      const sum = tf.add(alone1.grads[name], alone2.grads[name]);
      expect(relErr(await data(t), await data(sum)), name).toBeLessThan(1e-5);
      sum.dispose();
    }
    tf.dispose([a1, a2, g1, g2, packedActs, packedGrad, top, top2, topSlice, second]);
    for (const r of [alone1, alone2, packed]) tf.dispose([r.gradActs, ...Object.values(r.grads)]);
    server.dispose();
  });
});
