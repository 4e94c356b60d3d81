import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CheckpointCorrupt, checkpointName, decodeCheckpoint, encodeCheckpoint, listCheckpoints, loadLatestCheckpoint, writeCheckpoint,
  type CheckpointData,
} from './checkpoint';

function tensor(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, j) => Math.sin(seed * 1000 + j) * 0.1) };
}

function sample(round: number): CheckpointData {
  return {
    state: { runId: 'run-x', round, nextRound: round + 1, globalStep: 10 * (round + 1), clients: { 'c-1': { steps: 5 * (round + 1), tokens: 80 } }, engine: { serverSteps: 7, tokens: 900 }, at: 1_700_000_000_000 + round },
    client: { 'h.0.q.lora_A': tensor([8, 2], round), 'h.0.q.lora_B': tensor([2, 8], round + 1) },
    server: { 'h.1.q.lora_A': tensor([8, 2], round + 2), 'h.1.q.lora_B': tensor([2, 8], round + 3) },
    optimizer: { step: 3 + round, m: { 'h.1.q.lora_A': tensor([8, 2], round + 4) }, v: { 'h.1.q.lora_A': tensor([8, 2], round + 5) } },
    clientStates: {
      'c-1': {
        step: 5 * (round + 1),
        optimizer: { step: 5 * (round + 1), m: { 'h.0.q.lora_A': tensor([8, 2], round + 6), 'h.0.q.lora_B': tensor([2, 8], round + 7) }, v: { 'h.0.q.lora_A': tensor([8, 2], round + 8), 'h.0.q.lora_B': tensor([2, 8], round + 9) } },
        dataOrder: { epoch: 2, cursor: 3, seed: 11, examples: 12, fingerprint: '12-0badc0de' },
      },
    },
  };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'splitlora-ckpt-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function reasonOf(bytes: Uint8Array): string {
  try {
    decodeCheckpoint(bytes, 'f');
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointCorrupt);
    return (e as CheckpointCorrupt).reason;
  }
  throw new Error('decoded a damaged checkpoint');
}

describe('checkpoint files', () => {
  it('round-trips every tensor bit-exactly with its counters', () => {
    const d = sample(4);
    const back = decodeCheckpoint(encodeCheckpoint(d));
    expect(back.state).toMatchObject(d.state);
    expect(back.optimizer.step).toBe(7);
    for (const part of ['client', 'server'] as const) {
      for (const [k, t] of Object.entries(d[part])) {
        expect(back[part][k].shape).toEqual(t.shape);
        expect(Array.from(back[part][k].data)).toEqual(Array.from(t.data));
      }
    }
    expect(Array.from(back.optimizer.v['h.1.q.lora_A'].data)).toEqual(Array.from(d.optimizer.v['h.1.q.lora_A'].data));
    // Each client's own state: counters, data order and both AdamW moments.
    const cs = back.clientStates['c-1'];
    const want = d.clientStates['c-1'];
    expect({ step: cs.step, dataOrder: cs.dataOrder, optimizerStep: cs.optimizer.step }).toEqual({ step: want.step, dataOrder: want.dataOrder, optimizerStep: want.optimizer.step });
    for (const which of ['m', 'v'] as const) {
      expect(Object.keys(cs.optimizer[which]).sort()).toEqual(Object.keys(want.optimizer[which]).sort());
      for (const [k, t] of Object.entries(want.optimizer[which])) expect(Array.from(cs.optimizer[which][k].data), `${which} ${k}`).toEqual(Array.from(t.data));
    }
    expect(Object.keys(back.clientStates)).toEqual(['c-1']);
  });

  it('reads a checkpoint without client states (written before they were kept)', () => {
    const back = decodeCheckpoint(encodeCheckpoint({ ...sample(2), clientStates: {} }));
    expect(back.clientStates).toEqual({});
    expect(back.state).not.toHaveProperty('clientStates');
  });

  it('detects a flipped bit, a changed counter, a truncated file and a broken header', () => {
    const good = encodeCheckpoint(sample(1));
    const flipped = good.slice();
    flipped[flipped.length - 3] ^= 0x10;
    expect(reasonOf(flipped)).toMatch(/checksum mismatch/);

    // The counters are covered too: round 1 → round 7 in the state JSON.
    const text = new TextDecoder('latin1').decode(good);
    const at = text.indexOf('\\"round\\":1');
    expect(at).toBeGreaterThan(0);
    const edited = good.slice();
    edited[at + '\\"round\\":'.length] = '7'.charCodeAt(0);
    expect(reasonOf(edited)).toMatch(/checksum mismatch/);

    expect(reasonOf(good.slice(0, good.length - 40))).toMatch(/truncated|outside/);
    expect(reasonOf(good.slice(0, 5))).toMatch(/truncated/);
    const header = good.slice();
    header.fill(0x7b, 10, 30); // '{' over the JSON header
    expect(reasonOf(header)).toMatch(/header/i);
    expect(reasonOf(new Uint8Array(0))).toMatch(/truncated/);
  });

  it('writes atomically and keeps the newest three', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.tmp-deadbeef-checkpoint-9.safetensors'), 'half-written by a crash');
    for (const r of [0, 1, 2, 3, 4]) await writeCheckpoint(dir, sample(r));
    expect(readdirSync(dir).sort()).toEqual([checkpointName(2), checkpointName(3), checkpointName(4)]);
    expect((await listCheckpoints(dir)).map((c) => c.round)).toEqual([4, 3, 2]);
    const back = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, checkpointName(4)))));
    expect(back.state.round).toBe(4);
  });

  it('falls back past damaged checkpoints to the newest good one and says why', async () => {
    const dir = tempDir();
    for (const r of [5, 6, 7]) await writeCheckpoint(dir, sample(r));
    const newest = join(dir, checkpointName(7));
    const bytes = readFileSync(newest);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(newest, bytes);
    truncateSync(join(dir, checkpointName(6)), 100);

    const loaded = await loadLatestCheckpoint(dir);
    expect(loaded.file).toBe(checkpointName(5));
    expect(loaded.checkpoint!.state.nextRound).toBe(6);
    expect(loaded.rejected.map((r) => r.file)).toEqual([checkpointName(7), checkpointName(6)]);
    expect(loaded.rejected[0].reason).toMatch(/checksum mismatch/);
    expect(loaded.rejected[1].reason).toMatch(/truncated|outside/);
    // Damaged files are set aside, so the next start does not trip over them again.
    expect(readdirSync(dir).sort()).toEqual([checkpointName(5), `${checkpointName(6)}.corrupt`, `${checkpointName(7)}.corrupt`]);
  });

  it('skips, without setting aside, a checkpoint that does not fit the run; null when nothing is usable', async () => {
    const dir = tempDir();
    await writeCheckpoint(dir, sample(0));
    const loaded = await loadLatestCheckpoint(dir, () => {
      throw new Error('its client adapter lacks "h.0.v.lora_A"');
    });
    expect(loaded.checkpoint).toBeNull();
    expect(loaded.rejected).toEqual([{ file: checkpointName(0), reason: 'its client adapter lacks "h.0.v.lora_A"' }]);
    expect(readdirSync(dir)).toEqual([checkpointName(0)]);
    expect((await loadLatestCheckpoint(join(dir, 'missing'))).checkpoint).toBeNull();
  });
});
