// Held-out curves: a no-op adapter (every lora_B zero) scores exactly as the base model, so the
// bench scores it once and shares the result; any other adapter is scored on its own.
import { initLora, type TensorRecord } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { loadSimData } from './data';
import { heldoutCurve, isNoOpAdapter, type HeldoutMemo } from './evaluate';
import { tinyModel, tinySettings } from '../../../../test/kit/tiny';
import { useWasmWeights } from '../../../../test/kit/wasm';
import type { Checkpoint } from './types';

const model = tinyModel();
const s = tinySettings();
const wasmWeights = useWasmWeights(model);

const adapter = (seed: number) => initLora(model.config, s.lora, 0, model.config.nLayer, seed);
const at = (a: TensorRecord, globalStep = 0): Checkpoint => ({ globalStep, round: 0, wallMs: 0, adapter: a });

function trained(seed: number): TensorRecord {
  const a = adapter(seed);
  for (const [k, t] of Object.entries(a)) if (k.endsWith('.lora_B')) t.data = t.data.map((_, i) => 0.05 * Math.sin(i + seed));
  return a;
}

describe('heldoutCurve', () => {
  it('knows a fresh adapter (B = 0) from a trained one', () => {
    expect(isNoOpAdapter(adapter(1))).toBe(true);
    const one = adapter(1);
    const b = Object.keys(one).find((k) => k.endsWith('.lora_B'))!;
    one[b].data[3] = 1e-7;
    expect(isNoOpAdapter(one)).toBe(false);
    expect(isNoOpAdapter({})).toBe(false);
  });

  it('shares the base score between fresh adapters exactly, and scores the others on their own', async () => {
    const d = await loadSimData({ examples: 30, heldout: 6, partition: 'iid', clients: 1, seed: 2 });
    // Different lora_A, same zero lora_B: each scored on its own gives the same number, bit for bit.
    const alone = [(await heldoutCurve(model, wasmWeights(), s, d.heldout, [at(adapter(1))]))[0], (await heldoutCurve(model, wasmWeights(), s, d.heldout, [at(adapter(2))]))[0]];
    expect(alone[1].heldoutLoss).toBe(alone[0].heldoutLoss);

    const memo: HeldoutMemo = {};
    const first = await heldoutCurve(model, wasmWeights(), s, d.heldout, [at(adapter(3)), at(trained(3), 5)], undefined, memo);
    expect(memo.base?.meanNll).toBe(alone[0].heldoutLoss);
    expect(first[0].heldoutLoss).toBe(alone[0].heldoutLoss);
    expect(first[1].heldoutLoss).not.toBe(alone[0].heldoutLoss); // a trained adapter is really scored
    const own = (await heldoutCurve(model, wasmWeights(), s, d.heldout, [at(trained(3), 5)]))[0];
    expect(first[1].heldoutLoss).toBe(own.heldoutLoss);

    // A later method's fresh checkpoint takes the shared score; its trained one is scored anew.
    const second = await heldoutCurve(model, wasmWeights(), s, d.heldout, [at(adapter(4)), at(trained(4), 5)], undefined, memo);
    expect(second[0].heldoutLoss).toBe(alone[0].heldoutLoss);
    expect(second[1].heldoutLoss).not.toBe(first[1].heldoutLoss);
  });
});
