// A damaged newest checkpoint (a flipped bit) and a half-written one before it (truncated): the
// server notices both at start, says so in its log and in the API, resumes from the newest good
// checkpoint (adapters, optimizer state and counters exactly as saved), and training goes on.
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import type { TensorRecord } from '@splitlora/model';
import { buildApp, decodeCheckpoint, listCheckpoints } from '@splitlora/server';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, startVolunteer, waitFor } from '../support/server-harness';

const weights = tinyWeights();
const examples = encodeExamples(syntheticE2E({ n: 12, seed: 8 }));

async function start(dataDir: string, log: string[]) {
  await selectNodeBackend('wasm', () => {});
  const logger = { level: 'info', stream: { write: (line: string) => void log.push(line) } };
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights }, token: TOKEN, dataDir, logger, backend: 'wasm' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, manager, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

function expectSame(got: TensorRecord, want: TensorRecord, what: string) {
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(want).sort());
  for (const [k, t] of Object.entries(want)) expect(Array.from(got[k].data), `${what} ${k}`).toEqual(Array.from(t.data));
}

describe('a corrupt or half-written checkpoint', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'splitlora-fallback-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is detected, and the server falls back to the previous good one and says so', async () => {
    const log1: string[] = [];
    let server = await start(dataDir, log1);
    const v1 = startVolunteer(server.base, examples, 1);
    const id = await createRun(server.app, { interval: 1, rounds: 200, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    const recorder = server.manager.recorders.get(id)!;
    await waitFor(() => (recorder.lastCheckpoint?.round ?? -1) >= 3, 60_000, 'four checkpoints');
    v1.stop();
    await server.app.close(); // the run is still "training" in the store: it resumes at the next start

    const runDir = join(dataDir, 'runs', id);
    const [k3, k2, k1] = await listCheckpoints(runDir);
    expect([k3.round - k2.round, k2.round - k1.round]).toEqual([1, 1]);
    const good = decodeCheckpoint(new Uint8Array(readFileSync(k1.path)));
    // Damage: one flipped bit in the newest, the one before cut in half, and a temp file that a
    // crash left mid-write.
    const bytes = readFileSync(k3.path);
    bytes[bytes.length - 5] ^= 0x04;
    writeFileSync(k3.path, bytes);
    truncateSync(k2.path, Math.floor(readFileSync(k2.path).length / 2));
    const tmp = `.tmp-0badc0ffee00-checkpoint-${k3.round + 1}.safetensors`;
    writeFileSync(join(runDir, tmp), bytes.subarray(0, 300));

    const log2: string[] = [];
    server = await start(dataDir, log2);
    const run = server.manager.current!;
    expect(run.id).toBe(id);
    expect(run.round).toBe(k1.round + 1);
    expect(run.globalStep).toBe(good.state.globalStep);
    expectSame(run.average, good.client, 'client average');
    const snap = await run.opts.engine.snapshot();
    expectSame(snap.adapter, good.server, 'server adapter');
    const opt = snap.optimizer;
    expect(opt.step).toBe(good.optimizer.step);
    expectSame(opt.m, good.optimizer.m, 'adam m');
    expectSame(opt.v, good.optimizer.v, 'adam v');
    expect(run.opts.engine.stats.serverSteps).toBe(good.state.engine.serverSteps);

    // It says so: in the log, in the run's API summary and in its metrics log.
    const text = log2.join('');
    expect(text).toContain(`checkpoint ${k3.file} is unusable: checksum mismatch`);
    expect(text).toMatch(new RegExp(`checkpoint ${k2.file} is unusable: .*(truncated|outside)`));
    expect(text).toContain(`falling back to the previous good checkpoint ${k1.file} (round ${k1.round})`);
    const detail = (await server.app.inject({ url: `/api/runs/${id}` })).json();
    expect(detail.recovery).toMatchObject({ checkpoint: k1.file, round: k1.round + 1 });
    expect(detail.recovery.rejected.map((r: { file: string }) => r.file)).toEqual([k3.file, k2.file]);
    const resumed = (await server.app.inject({ url: `/api/runs/${id}/metrics?kind=state` })).json().metrics.at(-1);
    expect(resumed).toMatchObject({ event: 'resumed', checkpoint: k1.file, round: k1.round + 1 });
    expect(readdirSync(runDir).sort()).toEqual([k1.file, `${k2.file}.corrupt`, `${k3.file}.corrupt`, tmp].sort());

    // Training continues from there: the next aggregation is round k1+1, and its step count goes on.
    const v2 = startVolunteer(server.base, examples, 2);
    const rec2 = server.manager.recorders.get(id)!;
    await waitFor(() => (rec2.lastCheckpoint?.round ?? -1) >= k1.round + 1, 60_000, 'an aggregation after the resume');
    const next = decodeCheckpoint(new Uint8Array(readFileSync(join(runDir, `checkpoint-${k1.round + 1}.safetensors`))));
    expect(next.state.globalStep).toBe(good.state.globalStep + 1);
    expect(next.optimizer.step).toBe(good.optimizer.step + 1);
    expect(readdirSync(runDir)).not.toContain(tmp); // the next write sweeps up what a crash left
    v2.stop();
    await server.app.close();
  });
});
