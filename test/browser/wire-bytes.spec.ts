// The volunteer page's Sent / Received are the bytes on the wire: after a short run they equal
// the server's count of the packets it received from and sent to that page's socket, and the
// binary WebSocket frames Chromium saw (each one socket.io packet; engine.io's pings are text).
import { expect, test } from '@playwright/test';
import type { FastifyInstance } from 'fastify';
import type { RunManager } from '@splitlora/server';
import { wireBytesOf } from '../../apps/server/src/wire-bytes';
import { formatBytes } from '../../apps/web/src/format';
import { startWebServer } from './web-server';

const TOKEN = 'wire-bytes-token';
let app: FastifyInstance;
let manager: RunManager;
let base: string;

test.beforeAll(async () => {
  ({ app, manager, base } = await startWebServer({ id: 'wire-bytes', token: TOKEN, page: 'index.html' }));
});
test.afterAll(async () => { await app?.close(); });

test('Sent and Received show the measured bytes of the socket.io packets', async ({ page }) => {
  const frames = { sent: 0, received: 0 };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => { if (typeof f.payload !== 'string') frames.sent += f.payload.length; });
    ws.on('framereceived', (f) => { if (typeof f.payload !== 'string') frames.received += f.payload.length; });
  });
  await page.goto(`${base}/?sample=1&n=16&seed=1&autostart=1&backend=wasm`);
  await expect.poll(() => page.evaluate(() => window.__splitlora?.stats?.status ?? null), { timeout: 120_000 }).toBe('lobby');
  const res = await app.inject({
    method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
    payload: { interval: 2, rounds: 2, minClients: 1, batch: 2, seqLen: 16, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
  });
  expect(res.statusCode).toBe(201);
  await expect.poll(() => page.evaluate(() => window.__splitlora?.stats?.status ?? null), { timeout: 180_000 }).toBe('finished');

  const sockets = [...app.volunteers!.sockets.sockets.values()];
  expect(sockets).toHaveLength(1);
  const server = () => wireBytesOf(sockets[0]);
  const pageBytes = () => page.evaluate(() => ({ up: window.__splitlora!.stats!.bytesUp, down: window.__splitlora!.stats!.bytesDown }));
  // The last packets may still be on their way.
  await expect.poll(async () => { const p = await pageBytes(); return p.up === server().received && p.down === server().sent; }, { timeout: 10_000 }).toBe(true);
  const counted = server();
  expect(counted.received).toBeGreaterThan(4 * 2 * 16 * 32 * 4); // four steps of [2, 16, 32] f32 activations
  expect(frames).toEqual({ sent: counted.received, received: counted.sent });
  await expect(page.locator('#s-up')).toHaveText(formatBytes(counted.received));
  await expect(page.locator('#s-down')).toHaveText(formatBytes(counted.sent));
});
