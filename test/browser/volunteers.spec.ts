// Acceptance test of the volunteer page: three Chromium tabs train one run against the real
// server (Fastify + socket.io, started in this process and serving dist/web-test). Each tab joins on
// its own sample shard of a different size, so the example-weighted mean differs from a plain one.
import { expect, test, type Page } from '@playwright/test';
import { syntheticE2E } from '@splitlora/data';
import type { FastifyInstance } from 'fastify';
import { startWebServer } from './web-server';
// Types only: the page's window.__splitlora (its events, stats and adapter).
import type { PlainAdapter, RecordedEvent } from '../../apps/web/src/test-hook';

const TOKEN = 'browser-test-token';
const ROUNDS = 2;
const INTERVAL = 4;
/** Examples per tab (seeds 1..3); unequal so that the weighting matters. */
const SHARDS = [20, 30, 40];
/** SwiftShader WebGPU is slow; set BROWSER_BACKENDS=auto,webgl,webgl to force some tabs onto WebGL. */
const BACKENDS = (process.env.BROWSER_BACKENDS ?? 'auto,auto,auto').split(',');

interface TabReport {
  backend: string | null;
  model: { fromCache: boolean; bytes: number } | null;
  stats: { status: string; step: number; aggregations: number; examples?: number } | null;
  events: RecordedEvent[];
  adapter: PlainAdapter | null;
}

async function report(page: Page): Promise<TabReport> {
  return page.evaluate(async () => {
    const h = window.__splitlora!;
    return { backend: h.backend, model: h.model, stats: h.stats, events: h.events, adapter: await h.adapter() };
  });
}

const statusOf = (p: Page) => p.evaluate(() => window.__splitlora?.stats?.status ?? null);
const stepOf = (p: Page) => p.evaluate(() => window.__splitlora?.stats?.step ?? 0);
const modelOf = (p: Page) => p.evaluate(() => window.__splitlora?.model ?? null);

/** Example-weighted mean of the adapters sent for one round, in float64. */
function weightedMean(sent: { examples: number; adapter: PlainAdapter }[]): PlainAdapter {
  const total = sent.reduce((s, u) => s + u.examples, 0);
  return Object.fromEntries(
    Object.keys(sent[0].adapter).map((name) => [name, sent[0].adapter[name].map((_, j) => sent.reduce((s, u) => s + u.adapter[name][j] * u.examples, 0) / total)]),
  );
}

function maxDiff(a: PlainAdapter, b: PlainAdapter): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let worst = 0;
  for (const name of Object.keys(a)) {
    expect(a[name]).toHaveLength(b[name].length);
    a[name].forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[name][j]))));
  }
  return worst;
}

let app: FastifyInstance;
let base: string;

test.beforeAll(async () => {
  ({ app, base } = await startWebServer({ id: 'browser-tiny', token: TOKEN, page: 'index.html', wteScale: 25 }));
});

test.afterAll(async () => {
  await app?.close();
});

test('three volunteer tabs train, aggregate twice to the example-weighted mean, and the loss falls', async ({ context }, testInfo) => {
  const t0 = Date.now();
  const framesSent: Buffer[] = []; // everything tab 1 sends over its socket
  const open = async (tab: number): Promise<Page> => {
    const page = await context.newPage();
    if (tab === 0) page.on('websocket', (ws) => ws.on('framesent', (f) => framesSent.push(Buffer.from(f.payload))));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.log(`[tab ${tab + 1}] ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => console.log(`[tab ${tab + 1}] page error: ${e.message}`));
    const backend = BACKENDS[tab] && BACKENDS[tab] !== 'auto' ? `&backend=${BACKENDS[tab]}` : '';
    await page.goto(`${base}/?sample=1&autostart=1&seed=${tab + 1}&n=${SHARDS[tab]}${backend}`);
    return page;
  };

  // Tabs 1 and 2 wait in the lobby before any run exists.
  const pages = [await open(0), await open(1)];
  for (const p of pages) await expect.poll(() => statusOf(p), { timeout: 60_000 }).toBe('lobby');

  const res = await fetch(`${base}/api/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      interval: INTERVAL, rounds: ROUNDS, minClients: 3, batch: 4, seqLen: 48, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0,
      wire: 'f32', stepDeadlineMs: 180_000, lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] },
    }),
  });
  expect(res.status).toBe(201);
  const runId = ((await res.json()) as { id: string }).id;

  // Tab 3 joins once the others hold the model: it must come out of Cache Storage.
  for (const p of pages) await expect.poll(() => modelOf(p), { timeout: 60_000 }).not.toBeNull();
  pages.push(await open(2));
  await expect.poll(async () => (await modelOf(pages[2]))?.fromCache, { timeout: 60_000 }).toBe(true);

  // A picture of a tab mid-training, for a human to look at.
  const shot = process.env.VOLUNTEER_SCREENSHOT;
  if (shot) {
    await expect.poll(() => stepOf(pages[0]), { timeout: 120_000 }).toBeGreaterThanOrEqual(3);
    await pages[0].screenshot({ path: shot, fullPage: true });
  }

  const run = async () => (await (await fetch(`${base}/api/runs/${runId}`)).json()) as { status: string; round: number; clientList: { backend: string; examples: number; steps: number }[] };
  await expect.poll(async () => (await run()).status, { timeout: 240_000, intervals: [1000] }).toBe('finished');
  const summary = await run();
  expect(summary.round).toBe(ROUNDS);
  const trainMs = Date.now() - t0;

  const tabs = await Promise.all(pages.map(report));
  tabs.forEach((t, i) => {
    const steps = t.events.filter((e) => e.type === 'step');
    const line = `tab ${i + 1}: backend ${t.backend}${BACKENDS[i] !== 'auto' ? ` (asked for ${BACKENDS[i]})` : ' (auto)'}, model ${t.model?.fromCache ? 'from cache' : 'downloaded'}, ` +
      `${steps.length} steps, loss ${steps[0]?.loss.toFixed(4)} → ${steps.at(-1)?.loss.toFixed(4)}, ${(steps.reduce((s, e) => s + e.ms, 0) / Math.max(1, steps.length)).toFixed(0)} ms/step`;
    console.log(line);
    testInfo.annotations.push({ type: 'backend', description: line });
  });
  testInfo.annotations.push({ type: 'duration', description: `training ${(trainMs / 1000).toFixed(1)} s` });
  expect(summary.clientList.map((c) => c.examples).sort((a, b) => a - b)).toEqual(SHARDS);

  for (let round = 0; round < ROUNDS; round++) {
    // Every tab sent one adapter for this round, weighted by its own shard size...
    const sent = tabs.map((t) => {
      const ups = t.events.filter((e): e is Extract<RecordedEvent, { type: 'uploaded' }> => e.type === 'uploaded' && e.round === round);
      expect(ups).toHaveLength(1);
      return { examples: ups[0].examples, adapter: ups[0].adapter! };
    });
    expect(sent.map((s) => s.examples)).toEqual(SHARDS);
    const mean = weightedMean(sent);
    // ...and then loaded the example-weighted mean of all three.
    for (const t of tabs) {
      const agg = t.events.find((e): e is Extract<RecordedEvent, { type: 'aggregate' }> => e.type === 'aggregate' && e.round === round);
      expect(agg, `aggregate event of round ${round}`).toBeDefined();
      expect(agg!.participants).toBe(3);
      expect(maxDiff(agg!.adapter!, mean)).toBeLessThan(1e-6);
    }
    // The plain mean is measurably different, so the weighting is really checked.
    if (round === ROUNDS - 1) {
      const plainMean = weightedMean(sent.map((s) => ({ ...s, examples: 1 })));
      expect(maxDiff(plainMean, mean)).toBeGreaterThan(1e-5);
      // After the last aggregation nothing trains, so each model holds exactly that mean.
      for (const t of tabs) expect(maxDiff(t.adapter!, mean)).toBeLessThan(1e-6);
    }
  }

  for (const t of tabs) {
    expect(t.stats?.status).toBe('finished');
    expect(t.stats?.aggregations).toBe(ROUNDS);
    const losses = t.events.filter((e) => e.type === 'step').map((e) => e.loss);
    expect(losses).toHaveLength(ROUNDS * INTERVAL);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
  }
  // The training text never travels as text: no frame holds any example's words.
  expect(framesSent.length).toBeGreaterThan(ROUNDS * INTERVAL);
  const sentBytes = Buffer.concat(framesSent);
  for (const ex of syntheticE2E({ n: SHARDS[0], seed: 1 })) {
    for (const text of [ex.context, ex.completion]) expect(sentBytes.includes(text.slice(0, 16)), `"${text.slice(0, 16)}" was sent`).toBe(false);
  }
  // The page shows what it runs on and where the model came from.
  await expect(pages[2].locator('#model-status')).toContainText('loaded from cache');
  await expect(pages[0].locator('#s-backend')).toHaveText(new RegExp(`^${tabs[0].backend}`));
});

test('a picked file is parsed in the page, and a bad line is named clearly', async ({ page }) => {
  await page.goto(base);
  await expect(page.locator('#privacy')).toContainText('recovered every token of the input');
  await expect(page.locator('#s-backend')).not.toHaveText('checking…', { timeout: 60_000 });
  await expect(page.locator('#join')).toBeDisabled();

  const bad = '{"prompt": "name[Aromi]", "completion": "Aromi is a pub."}\n{"prompt": "name[Blue Spice]"}\n';
  await page.locator('#file').setInputFiles({ name: 'mine.jsonl', mimeType: 'application/json', buffer: Buffer.from(bad) });
  await expect(page.locator('#data-status')).toHaveClass(/error/);
  await expect(page.locator('#data-status')).toContainText('mine.jsonl, line 2');
  await expect(page.locator('#join')).toBeDisabled();

  // Ticking "skip" re-reads the same file and keeps the good line.
  await page.locator('#skip-bad').check();
  await expect(page.locator('#data-status')).toHaveText('1 example from mine.jsonl (1 malformed line skipped)');
  await expect(page.locator('#join')).toBeEnabled();

  const e2e = 'name[Aromi], eatType[pub]||Aromi is a pub.\nname[Wildwood], food[French]||Wildwood serves French food.\n';
  await page.locator('#file').setInputFiles({ name: 'e2e.txt', mimeType: 'text/plain', buffer: Buffer.from(e2e) });
  await expect(page.locator('#data-status')).toHaveText('2 examples from e2e.txt');
});

test('the sample-shard button joins at once; the favicon and /dashboard answer', async ({ page }) => {
  await page.goto(base);
  await expect(page.locator('#s-backend')).not.toHaveText('checking…', { timeout: 60_000 });
  await page.locator('#sample').click(); // no "Join training" click
  await expect(page.locator('#leave')).toBeEnabled();
  await expect(page.locator('#join')).toBeDisabled();
  await expect.poll(() => statusOf(page), { timeout: 60_000 }).toMatch(/^(lobby|loading|waiting|training|finished)$/);
  await page.locator('#leave').click();
  await expect(page.locator('#s-state')).toHaveText('not joined');

  const icon = await page.locator('link[rel="icon"]').getAttribute('href');
  const res = await page.request.get(new URL(icon!, base).href);
  expect(res.status()).toBe(200);
  expect(res.headers()['content-type']).toMatch(/^image\/svg\+xml/);
  // The 302 keeps the #token fragment: the dashboard adopts it (and then takes it out of the URL).
  await page.goto(`${base}/dashboard#token=${TOKEN}`);
  expect(new URL(page.url()).pathname).toBe('/dashboard.html');
  await expect.poll(() => page.evaluate(() => sessionStorage.getItem('splitlora.operatorToken'))).toBe(TOKEN);
});

test('closing one tab mid-round does not stall the run', async ({ context }) => {
  const tabs = await Promise.all([1, 2, 3].map(async (seed) => {
    const page = await context.newPage();
    await page.goto(`${base}/?sample=1&autostart=1&seed=${10 + seed}&n=12`);
    return page;
  }));
  const res = await app.inject({
    method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
    payload: { interval: 3, rounds: 2, minClients: 3, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f16', stepDeadlineMs: 120_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
  });
  expect(res.statusCode).toBe(201);
  const runId = res.json().id as string;
  await expect.poll(() => stepOf(tabs[2]), { timeout: 150_000 }).toBeGreaterThanOrEqual(1);
  await tabs[2].close(); // gone in the middle of round 0
  const runStatus = async () => (await app.inject({ url: `/api/runs/${runId}` })).json() as { status: string; round: number };
  await expect.poll(async () => (await runStatus()).status, { timeout: 180_000, intervals: [1000] }).toBe('finished');
  expect((await runStatus()).round).toBe(2);
  for (const t of tabs.slice(0, 2)) expect(await statusOf(t)).toBe('finished');
});

test('a reloaded tab comes back as the same volunteer and continues from its own checkpointed state', async ({ page }) => {
  const res = await app.inject({
    method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
    // Many rounds: a fast tab must not finish the run before the reload lands (the test stops it).
    payload: { interval: 2, rounds: 1000, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f16', stepDeadlineMs: 120_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
  });
  expect(res.statusCode).toBe(201);
  const runId = res.json().id as string;
  const url = `${base}/?sample=1&autostart=1&seed=31&n=10`;
  await page.goto(url);
  const aggregations = () => page.evaluate(() => window.__splitlora?.events.filter((e) => e.type === 'aggregate').length ?? 0);
  await expect.poll(aggregations, { timeout: 150_000 }).toBeGreaterThanOrEqual(1);
  const before = await page.evaluate(() => window.__splitlora!.stats!.clientId);
  expect(before).toMatch(/^c-/);

  await page.reload(); // same URL, so the same sample shard: its saved data order fits
  await expect.poll(() => page.evaluate(() => window.__splitlora?.stats?.clientId ?? null), { timeout: 60_000 }).toBe(before);
  const restored = async () => page.evaluate(() => window.__splitlora?.events.find((e) => e.type === 'restored') ?? null);
  await expect.poll(restored, { timeout: 60_000 }).not.toBeNull().catch(async (e: Error) => {
    // Say what the page saw, so a failure can be read from the log alone.
    const seen = await page.evaluate(() => ({
      events: (window.__splitlora?.events ?? []).map((x) => JSON.stringify(x).slice(0, 160)),
      stats: JSON.stringify(window.__splitlora?.stats ?? null),
      log: document.querySelector('#log')?.textContent ?? '',
    }));
    const run = (await app.inject({ url: `/api/runs/${runId}` })).json();
    throw new Error(`${e.message}\npage after the reload: ${seen.stats}\n${seen.events.join('\n')}\nlog: ${seen.log}\nrun: ${JSON.stringify({ status: run.status, round: run.round, clients: run.clientList })}`);
  });
  const r = (await restored()) as Extract<RecordedEvent, { type: 'restored' }>;
  // The state of the aggregation that made the current average: a whole number of rounds in.
  expect(r.step % 2).toBe(0);
  expect(r.step).toBeGreaterThanOrEqual(2);

  // It goes on training as itself: another aggregation after the reload, and still one client.
  await expect.poll(aggregations, { timeout: 150_000 }).toBeGreaterThanOrEqual(1);
  const stop = await app.inject({ method: 'POST', url: `/api/runs/${runId}/stop`, headers: { authorization: `Bearer ${TOKEN}` } });
  expect(stop.statusCode).toBe(200);
  const detail = (await app.inject({ url: `/api/runs/${runId}` })).json() as { status: string; clientList: { id: string }[] };
  expect(detail.status).toBe('stopped');
  expect(detail.clientList.map((c) => c.id)).toEqual([before]);
});
