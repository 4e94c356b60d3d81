// kill -9 mid-run: `splitlora serve` runs as a child process with a data directory, two Node
// volunteers train over reconnecting sockets, and the server is SIGKILLed after some aggregations.
// Restarted on the same directory, it resumes the run from its last checkpoint: the volunteers
// reconnect on their own, are recognised by their resume tokens, receive exactly the checkpointed
// average and their own checkpointed training state, and the round and step counters continue
// from the checkpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volunteer, downloadClientModel } from '@splitlora/client';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { toWeights } from '@splitlora/model';
import { saveGpt2Dir } from '@splitlora/model/node';
import { msgpackParser, type WelcomeMessage } from '@splitlora/protocol';
import { decodeCheckpoint, listCheckpoints, type CheckpointData } from '@splitlora/server';
import { io } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { waitFor } from '../support/server-harness';
import { freePort } from '../support/free-port';
import { CLI_BIN, REPO_ROOT } from '../kit/paths';

const TOKEN = 'crash-token';
const settings = { interval: 2, rounds: 1000, minClients: 2, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', stepDeadlineMs: 30_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };

/** `splitlora serve` in a child process; resolves once /api/health answers. */
async function serveProcess(args: string[], base: string) {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', ...args], { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let up = false;
  const t0 = Date.now();
  while (!up) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve exited early:\n${output}`);
    if (Date.now() - t0 > 40_000) throw new Error(`serve did not answer within 40 s:\n${output}`);
    up = await fetch(`${base}/api/health`).then((r) => r.ok, () => false);
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exited, output: () => output };
}

async function newestGoodCheckpoint(dir: string): Promise<{ file: string; data: CheckpointData }> {
  for (const c of await listCheckpoints(dir)) {
    try {
      return { file: c.file, data: decodeCheckpoint(new Uint8Array(readFileSync(c.path)), c.file) };
    } catch {
      // a checkpoint the kill cut short would be skipped by the server too
    }
  }
  throw new Error(`no intact checkpoint in ${dir}`);
}

describe('the server survives kill -9', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'splitlora-crash-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('resumes the run from its last checkpoint and the volunteers reconnect on their own', async () => {
    await selectNodeBackend('wasm', () => {});
    const modelDir = join(tmp, 'model');
    const dataDir = join(tmp, 'data');
    await saveGpt2Dir(modelDir, TINY, tinyWeights());
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const args = ['--data-dir', dataDir, '--port', String(port), '--host', '127.0.0.1', '--token', TOKEN, '--no-auto-run', '--model', modelDir, '--backend', 'wasm'];

    let server = await serveProcess(args, base);
    children.push(server.child);
    const created = await fetch(`${base}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(settings) });
    expect(created.status).toBe(201);
    const runId = (await created.json()).id as string;
    const runDir = join(dataDir, 'runs', runId);

    // Two volunteers whose sockets reconnect by themselves, as the browser page's do.
    const text = syntheticE2E({ n: 24, seed: 6 });
    const data = encodeExamples(text);
    const volunteers = [0, 1].map((j) => {
      const socket = io(base, { parser: msgpackParser, transports: ['websocket'], reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 400 });
      const welcomes: WelcomeMessage[] = [];
      socket.on('welcome', (m: WelcomeMessage) => welcomes.push(m));
      const v = new Volunteer({
        socket, examples: data.slice(j * 12, j * 12 + 12), backend: 'wasm', userAgent: `vitest-${j}`, seed: j + 1,
        loadModel: async () => { const m = await downloadClientModel(base); return { config: m.config, weights: toWeights(m.weights) }; },
      });
      v.start();
      return { v, welcomes };
    });

    // Mid-run: once an aggregation of this 1000-round run is checkpointed.
    const t0 = Date.now();
    while ((await listCheckpoints(runDir)).length < 1) {
      if (Date.now() - t0 > 60_000) throw new Error(`no checkpoints after 60 s:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    server.child.kill('SIGKILL');
    await server.exited;
    const ck = await newestGoodCheckpoint(runDir);
    const firstIds = volunteers.map((x) => x.welcomes[0].clientId);

    const restartedAt = Date.now();
    server = await serveProcess(args, base);
    children.push(server.child);
    await waitFor(() => server.output().includes('Resumed run:'), 10_000, 'the banner');
    expect(server.output()).toContain(`Resumed run:       ${runId} at round ${ck.data.state.nextRound}, global step ${ck.data.state.globalStep}`);

    // Both reconnect without help, are recognised, and get exactly the checkpointed average.
    await waitFor(() => volunteers.every((x) => x.welcomes.length >= 2), 30_000, 'both volunteers to reconnect');
    for (const [j, x] of volunteers.entries()) {
      const w = x.welcomes.at(-1)!;
      expect(w.resumed, `volunteer ${j}`).toBe(true);
      expect(w.clientId).toBe(firstIds[j]);
      expect(w.runId).toBe(runId);
      expect(w.round).toBe(ck.data.state.nextRound);
      const tensors = w.adapter!.tensors;
      expect(Object.keys(tensors).sort()).toEqual(Object.keys(ck.data.client).sort());
      for (const [name, t] of Object.entries(ck.data.client)) expect(Array.from(tensors[name].data), name).toEqual(Array.from(t.data));
      // ... and their own training state from it: AdamW moments, data order, step count.
      const saved = ck.data.clientStates[w.clientId];
      expect(saved, `checkpointed state of volunteer ${j}`).toBeDefined();
      expect(w.state).toMatchObject({ step: saved.step, dataOrder: saved.dataOrder, optimizer: { step: saved.optimizer.step } });
      for (const which of ['m', 'v'] as const) {
        for (const [name, t] of Object.entries(saved.optimizer[which])) expect(Array.from(w.state!.optimizer[which][name].data), `${which} ${name}`).toEqual(Array.from(t.data));
      }
    }
    const detail = await (await fetch(`${base}/api/runs/${runId}`)).json();
    expect(detail).toMatchObject({ live: true, recovery: { checkpoint: ck.file, round: ck.data.state.nextRound, rejected: [] } });
    expect(detail.round).toBeGreaterThanOrEqual(ck.data.state.nextRound);

    // Training goes on from there: a later aggregation is checkpointed with counters that continue.
    let later: CheckpointData | null = null;
    const t1 = Date.now();
    while (!later) {
      if (Date.now() - t1 > 60_000) throw new Error(`no aggregation after the restart within 60 s:\n${server.output()}`);
      const c = await newestGoodCheckpoint(runDir);
      if (c.data.state.round > ck.data.state.round) later = c.data;
      else await new Promise((r) => setTimeout(r, 50));
    }
    // Both volunteers take part in every round after the resume (rounds go fast: count them).
    const rounds = later.state.round - ck.data.state.round;
    expect(later.state.globalStep).toBe(ck.data.state.globalStep + rounds * 2 * settings.interval);
    expect(later.optimizer.step).toBeGreaterThan(ck.data.optimizer.step);
    for (const id of firstIds) expect(later.state.clients[id].steps).toBe(ck.data.state.clients[id].steps + rounds * settings.interval);
    const timeline = (await (await fetch(`${base}/api/runs/${runId}/rounds`)).json()).rounds as { round: number; participants: number; aggregated: boolean }[];
    for (let r = ck.data.state.nextRound; r <= later.state.round; r++) {
      expect(timeline.find((x) => x.round === r), `round ${r}`).toMatchObject({ participants: 2, aggregated: true });
    }
    const after = await (await fetch(`${base}/api/runs/${runId}/metrics?kind=step&since=${restartedAt}`)).json();
    expect(Math.min(...after.metrics.map((m: { globalStep: number }) => m.globalStep))).toBe(ck.data.state.globalStep + 1);
    const summary = await (await fetch(`${base}/api/runs/${runId}`)).json();
    expect(summary.round).toBeGreaterThan(ck.data.state.nextRound);

    for (const x of volunteers) x.v.stop();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
