// A page whose WebGL cannot hold the embedding moves to the next backend before it says hello,
// and says why on the page and in the hello's backend field. The texture limit is lowered with
// ?webglMaxTexture=N, which makes tfjs-webgl refuse larger textures as such a GPU would: the tiny
// model's wte [50257×32] needs a 1269×1268 texture.
import { expect, test, type Page } from '@playwright/test';
import type { FastifyInstance } from 'fastify';
import { startWebServer } from './web-server';

const TOKEN = 'browser-fallback-token';
let app: FastifyInstance;
let base: string;
let runId: string;

test.beforeAll(async () => {
  ({ app, base } = await startWebServer({ id: 'browser-fallback', token: TOKEN, page: 'index.html' }));
  const res = await app.inject({
    method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
    payload: { interval: 2, rounds: 1000, minClients: 1, batch: 2, seqLen: 32, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
  });
  expect(res.statusCode).toBe(201);
  runId = res.json().id;
});
test.afterAll(async () => { await app?.close(); });

const hookOf = (p: Page) => p.evaluate(() => {
  const h = window.__splitlora;
  return h ? { backend: h.backend, fallback: h.backendFallback, step: h.stats?.step ?? 0, model: h.model } : null;
});

async function clientBackends(): Promise<string[]> {
  const detail = (await app.inject({ url: `/api/runs/${runId}` })).json() as { clientList: { backend: string }[] };
  return detail.clientList.map((c) => c.backend);
}

test('webgl too small for the embedding: the page falls back to wasm and says why', async ({ page }) => {
  await page.goto(`${base}/?sample=1&n=16&seed=1&autostart=1&backend=webgl&webglMaxTexture=1024`);
  await expect.poll(async () => (await hookOf(page))?.step ?? 0, { timeout: 120_000 }).toBeGreaterThan(0);
  const h = (await hookOf(page))!;
  expect(h.backend).toBe('wasm');
  expect(h.fallback).toBe('webgl cannot hold wte [50257×32]: it needs a 1269×1268 texture, the limit is 1024');
  await expect(page.locator('#s-backend')).toHaveText('wasm (webgl cannot hold this model)');
  await expect(page.locator('#log')).toContainText('using wasm instead of webgl: webgl cannot hold wte');
  expect(await clientBackends()).toContain('wasm (webgl: wte needs 1269×1268 > 1024)');
  // The client part came as F16 and was checked against its SHA-256.
  expect(h.model).toMatchObject({ dtype: 'F16', verified: true, resumes: 0 });
  await expect(page.locator('#model-status')).toContainText('F16');
});

test('webgl large enough: the page stays on webgl', async ({ page }) => {
  await page.goto(`${base}/?sample=1&n=16&seed=2&autostart=1&backend=webgl&webglMaxTexture=2048`);
  await expect.poll(async () => (await hookOf(page))?.model ?? null, { timeout: 120_000 }).not.toBeNull();
  const h = (await hookOf(page))!;
  expect(h.backend).toBe('webgl');
  expect(h.fallback).toBeNull();
  await expect(page.locator('#s-backend')).toHaveText('webgl');
});
