import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { roundToF16 } from '@splitlora/tensor';
import { openSafetensorsFile } from './file-range-node';
import { clientTensorNames, loadGpt2FromFiles } from './hf-gpt2';
import { loadGpt2Dir, saveGpt2Dir } from './hf-gpt2-node';
import { initGpt2Weights } from './init';
import type { LoraConfig } from './lora-types';
import { loadAdapterDir, saveAdapterDir } from './peft-node';
import { CHECKPOINT_TINY as TINY, expectCheckpointErrorAsync, expectSameBits } from '../../../../test/kit/checkpoint';
import { TINY_HF_FIXTURE, hasTinyHfFixture } from '../../../../test/kit/paths';

const tmp = await mkdtemp(join(tmpdir(), 'splitlora-ckpt-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('GPT-2 directories', () => {
  const weights = initGpt2Weights(TINY, 5);

  it('saveGpt2Dir -> loadGpt2Dir is bit-exact in F32 and f16-exact in F16', async () => {
    for (const dtype of ['F32', 'F16'] as const) {
      const dir = join(tmp, `model-${dtype}`);
      await saveGpt2Dir(dir, TINY, weights, dtype);
      const { config, weights: back } = await loadGpt2Dir(dir);
      expect(config).toEqual(TINY);
      for (const [k, v] of Object.entries(weights)) expectSameBits(back[k].data, dtype === 'F32' ? v.data : roundToF16(v.data), `${dtype} ${k}`);
    }
  });

  it('include reads only the client tensors', async () => {
    const names = clientTensorNames(TINY, 1);
    const { weights: back } = await loadGpt2Dir(join(tmp, 'model-F32'), { include: (n) => names.includes(n) });
    expect(Object.keys(back)).toEqual(names);
  });

  it('reads only the header and the requested byte ranges', async () => {
    const file = await openSafetensorsFile(join(tmp, 'model-F32', 'model.safetensors'));
    try {
      const info = file.header.tensors['transformer.h.1.ln_2.weight'];
      const raw = await file.read(info);
      expect(raw.length).toBe(TINY.nEmbd * 4);
      expect(new Float32Array(raw.buffer)).toEqual(weights['h.1.ln_2.weight'].data);
    } finally {
      await file.close();
    }
  });

  it('a missing file is named with its full path', async () => {
    const dir = join(tmp, 'no-weights');
    await saveGpt2Dir(dir, TINY, weights);
    await rm(join(dir, 'model.safetensors'));
    await expectCheckpointErrorAsync(loadGpt2Dir(dir), 'MISSING_FILE', resolve(dir, 'model.safetensors'));
    await expectCheckpointErrorAsync(loadGpt2Dir(join(tmp, 'nowhere')), 'MISSING_FILE', resolve(tmp, 'nowhere', 'config.json'));
  });

  it('a truncated file names the file and the problem', async () => {
    const dir = join(tmp, 'truncated');
    await saveGpt2Dir(dir, TINY, weights);
    const path = join(dir, 'model.safetensors');
    const file = await openSafetensorsFile(path);
    await file.close();
    await truncate(path, file.header.dataStart + 100); // header intact, data cut short
    await expectCheckpointErrorAsync(loadGpt2Dir(dir), 'BAD_OFFSETS', path, 'truncated');
    await truncate(path, 6);
    await expectCheckpointErrorAsync(loadGpt2Dir(dir), 'TRUNCATED', path, 'truncated header');
  });

  it('an unsupported dtype names the tensor and the supported dtypes', async () => {
    const dir = join(tmp, 'f64');
    const header = JSON.stringify({ 'transformer.wte.weight': { dtype: 'F64', shape: [TINY.vocabSize, TINY.nEmbd], data_offsets: [0, TINY.vocabSize * TINY.nEmbd * 8] } });
    const bytes = new Uint8Array(8 + header.length + TINY.vocabSize * TINY.nEmbd * 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    await saveGpt2Dir(dir, TINY, weights);
    await writeFile(join(dir, 'model.safetensors'), bytes);
    await expectCheckpointErrorAsync(loadGpt2Dir(dir, { include: (n) => n === 'wte.weight' }), 'UNSUPPORTED_DTYPE', 'transformer.wte.weight', 'F64', 'F32, F16, BF16');
  });
});

describe.skipIf(!hasTinyHfFixture)('fixture via the file loader', () => {
  it('matches the in-memory loader, and include loads the client part only', async () => {
    const all = await loadGpt2Dir(TINY_HF_FIXTURE);
    const mem = loadGpt2FromFiles(await readFile(join(TINY_HF_FIXTURE, 'config.json'), 'utf8'), await readFile(join(TINY_HF_FIXTURE, 'model.safetensors')));
    for (const k of Object.keys(mem.weights)) expectSameBits(all.weights[k].data, mem.weights[k].data, k);
    const names = clientTensorNames(all.config, 1);
    const client = await loadGpt2Dir(TINY_HF_FIXTURE, { include: (n) => names.includes(n) });
    expect(Object.keys(client.weights)).toEqual(names);
  });
});

describe('PEFT adapter directories', () => {
  it('saveAdapterDir -> loadAdapterDir round-trips bit-exactly, and writes PEFT file names', async () => {
    const cfg: LoraConfig = { r: 2, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };
    const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.3);
    const lora = {
      'h.0.q.lora_A': { shape: [8, 2], data: rand(16) }, 'h.0.q.lora_B': { shape: [2, 8], data: rand(16).reverse() },
      'h.0.v.lora_A': { shape: [8, 2], data: rand(16).map((v) => -v) }, 'h.0.v.lora_B': { shape: [2, 8], data: rand(16).map((v) => v * 2) },
    };
    const dir = join(tmp, 'adapter');
    await saveAdapterDir(dir, lora, cfg, { baseModel: 'gpt2' });
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 64, target_modules: ['c_attn'] });
    const back = await loadAdapterDir(dir);
    expect(back.cfg).toEqual(cfg);
    for (const [k, v] of Object.entries(lora)) expect(back.lora[k].data, k).toEqual(v.data);
    await rm(join(dir, 'adapter_model.safetensors'));
    await expectCheckpointErrorAsync(loadAdapterDir(dir), 'MISSING_FILE', resolve(dir, 'adapter_model.safetensors'));
  });
});
