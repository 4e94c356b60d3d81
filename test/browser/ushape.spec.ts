// The U-shaped split in real Chromium tabs (run setting labels: "client"): two volunteer pages
// train one run in which the loss is computed in the page, so the loss is read from the pages,
// not from the server (which has none). The server stops mid-run and comes back on the same data
// directory and port; the tabs reconnect by themselves, get their checkpointed state back and
// finish the run. Every frame the tabs sent is decoded: none holds targets, a mask or a loss.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights } from '@splitlora/model';
import { Decoder, type Packet } from '@splitlora/protocol';
import { buildApp } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { TINY } from '../kit/tiny';
import { webDir } from './web-server';
import type { RecordedEvent } from '../../apps/web/src/test-hook';

const TOKEN = 'ushape-browser-token';
const ROUNDS = 6;
const INTERVAL = 3;
const weights = initGpt2Weights(TINY, 1);
weights['wte.weight'].data = weights['wte.weight'].data.map((x) => x * 25); // so LoRA can move the tied head's logits

async function start(dataDir: string, port = 0): Promise<{ app: FastifyInstance; port: number }> {
  await selectNodeBackend('wasm', () => {});
  const { app } = await buildApp({ model: { id: 'browser-tiny', config: TINY, weights }, token: TOKEN, webDir, backend: 'wasm', dataDir, logger: false });
  await app.listen({ port, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

const eventsOf = (p: Page) => p.evaluate(() => (window.__splitlora?.events ?? []) as RecordedEvent[]);
const statusOf = (p: Page) => p.evaluate(() => window.__splitlora?.stats?.status ?? null);

/** Every key in a decoded payload, and every plain number in it (typed arrays are tensors, not scanned). */
function walk(v: unknown, keys: Set<string>, numbers: number[], depth = 0): void {
  if (depth > 12 || v === null || typeof v !== 'object') {
    if (typeof v === 'number') numbers.push(v);
    return;
  }
  if (ArrayBuffer.isView(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (!Array.isArray(v)) keys.add(k);
    walk(x, keys, numbers, depth + 1);
  }
}

let dataDir = '';
let app: FastifyInstance | null = null;
test.afterAll(async () => {
  await app?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('two U-shaped tabs train with the loss in the page, resume after a server restart, and send no labels', async ({ context }) => {
  // Two tabs computing the head over 50257 tokens each, a server restart and a full run: on a loaded 2-core CI machine this took 2.4 min once and over 5 min another time.
  test.setTimeout(540_000);
  dataDir = mkdtempSync(join(tmpdir(), 'splitlora-ushape-web-'));
  let port: number;
  ({ app, port } = await start(dataDir));
  const base = `http://127.0.0.1:${port}`;
  const frames: Buffer[] = [];
  const pages: Page[] = [];
  for (const tab of [0, 1]) {
    const page = await context.newPage();
    page.on('websocket', (ws) => ws.on('framesent', (f) => { if (typeof f.payload !== 'string') frames.push(Buffer.from(f.payload)); }));
    page.on('pageerror', (e) => console.log(`[tab ${tab + 1}] page error: ${e.message}`));
    await page.goto(`${base}/?sample=1&autostart=1&seed=${tab + 1}&n=${20 + 10 * tab}&backend=webgl`);
    pages.push(page);
  }
  for (const p of pages) await expect.poll(() => statusOf(p), { timeout: 60_000 }).toBe('lobby');

  const res = await fetch(`${base}/api/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      labels: 'client', interval: INTERVAL, rounds: ROUNDS, minClients: 2, batch: 4, seqLen: 48, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0,
      wire: 'f16', stepDeadlineMs: 180_000, lora: { r: 4, alpha: 8, dropout: 0.1, targets: ['q', 'v', 'mlp.c_fc'] },
    }),
  });
  expect(res.status).toBe(201);
  const runId = ((await res.json()) as { id: string }).id;
  const summary = async () => (await (await fetch(`${base}/api/runs/${runId}`)).json()) as { status: string; round: number; lastLoss: number | null; checkpoint: { round: number } | null };

  // Stop the server once round 1 is checkpointed and the tabs are into round 2.
  await expect.poll(async () => (await summary()).checkpoint?.round ?? -1, { timeout: 240_000, intervals: [500] }).toBeGreaterThanOrEqual(1);
  const before = await summary();
  expect(before.lastLoss).toBeNull(); // the server never learns a loss
  await app.close();
  app = null;
  for (const p of pages) await expect.poll(() => statusOf(p), { timeout: 30_000 }).toBe('connecting');

  ({ app } = await start(dataDir, port));
  for (const p of pages) await expect.poll(async () => (await eventsOf(p)).some((e) => e.type === 'restored'), { timeout: 60_000 }).toBe(true);
  await expect.poll(async () => (await summary()).status, { timeout: 240_000, intervals: [1000] }).toBe('finished');
  const after = await summary();
  expect(after.round).toBe(ROUNDS);
  expect(after.lastLoss).toBeNull();

  for (const [i, p] of pages.entries()) {
    const events = await eventsOf(p);
    const losses = events.filter((e): e is Extract<RecordedEvent, { type: 'step' }> => e.type === 'step').map((e) => e.loss);
    const restored = events.find((e): e is Extract<RecordedEvent, { type: 'restored' }> => e.type === 'restored')!;
    console.log(`tab ${i + 1}: ${losses.length} steps (restored at local step ${restored.step}), loss ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`);
    expect(losses.length).toBeGreaterThanOrEqual(ROUNDS * INTERVAL);
    expect(restored.step).toBeGreaterThanOrEqual(INTERVAL);
    const head = losses.slice(0, INTERVAL).reduce((a, b) => a + b, 0) / INTERVAL;
    const tail = losses.slice(-INTERVAL).reduce((a, b) => a + b, 0) / INTERVAL;
    expect(tail).toBeLessThan(head); // the loss, computed in the page, fell
    await expect(p.locator('#s-loss')).not.toHaveText('–');
    expect(await statusOf(p)).toBe('finished');
  }

  // What the tabs really sent: no targets, no mask, no loss, under any name.
  const decoded: Packet[] = [];
  for (const f of frames) {
    const d = new Decoder();
    d.on('decoded', (p: Packet) => decoded.push(p));
    d.add(new Uint8Array(f)); // binary WebSocket frames are whole msgpack socket.io packets (control frames are text)
  }
  const events = decoded.map((p) => (p.data as unknown[] | undefined)?.[0]);
  expect(events.filter((e) => e === 'front').length).toBeGreaterThanOrEqual(2 * ROUNDS * INTERVAL);
  expect(events.filter((e) => e === 'top-gradient').length).toBeGreaterThanOrEqual(2 * ROUNDS * INTERVAL);
  expect(events).not.toContain('activations');
  const pageLosses = (await Promise.all(pages.map(eventsOf))).flat().flatMap((e) => (e.type === 'step' ? [e.loss] : []));
  for (const p of decoded) {
    const keys = new Set<string>();
    const numbers: number[] = [];
    walk(p.data, keys, numbers);
    const name = Array.isArray(p.data) ? String(p.data[0]) : `type-${p.type}`;
    for (const banned of ['targets', 'mask', 'loss']) expect(keys.has(banned), `a ${name} frame carries "${banned}"`).toBe(false);
    for (const l of pageLosses) expect(numbers).not.toContain(l);
  }
});
