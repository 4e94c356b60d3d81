// A volunteer tab in the background keeps training. Playwright's own launch keeps every page
// "visible" (focus emulation) and turns timer throttling off, so this spec starts Chromium itself
// with throttling on, attaches without Playwright's overrides (connectOverCDP, noDefaults), and
// hides the volunteer tab the way a user does: another tab comes to the front. It asserts that
// the hidden tab really is hidden, that Chrome really throttles its timers (a setTimeout chain
// drops to about one wake-up a second), and that training goes on through an aggregation. It
// prints steps per minute visible and hidden; HIDDEN_TAB_SECONDS lengthens the windows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import type { FastifyInstance } from 'fastify';
import { startWebServer } from './web-server';

const TOKEN = 'hidden-tab-token';
const INTERVAL = 3;
const WINDOW_S = Number(process.env.HIDDEN_TAB_SECONDS ?? 12);
const BACKENDS = (process.env.HIDDEN_TAB_BACKENDS ?? 'wasm,webgl').split(',');

let app: FastifyInstance;
let base: string;
let chrome: ChildProcess;
let browser: Browser;
let profile: string;

test.beforeAll(async () => {
  ({ app, base } = await startWebServer({ id: 'hidden-tiny', token: TOKEN, page: 'index.html', wteScale: 25 }));
  profile = mkdtempSync(join(tmpdir(), 'splitlora-hidden-'));
  chrome = spawn(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ws = await new Promise<string>((resolve, reject) => {
    let err = '';
    chrome.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\S+)/);
      if (m) resolve(m[1]);
    });
    chrome.once('exit', (code) => reject(new Error(`chromium exited (${code}): ${err.slice(-500)}`)));
  });
  browser = await chromium.connectOverCDP(ws, { noDefaults: true });
});

test.afterAll(async () => {
  await browser?.close();
  // Wait for Chromium to exit: it writes to its profile until then (rmSync would race it).
  if (chrome && chrome.exitCode === null) {
    const exited = new Promise((r) => chrome!.once('exit', r));
    chrome.kill();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  await app?.close();
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const stepOf = (p: Page) => p.evaluate(() => window.__splitlora?.stats?.step ?? 0);
const aggregationsOf = (p: Page) => p.evaluate(() => window.__splitlora?.stats?.aggregations ?? 0);
const visibility = (p: Page) => p.evaluate(() => document.visibilityState);

/** Rate of a chained setTimeout(0) in the page over `ms`: shows whether Chrome throttles it. */
const timerRate = (p: Page, ms: number) => p.evaluate((ms) => new Promise<number>((resolve) => {
  let n = 0;
  const t0 = performance.now();
  const tick = () => (performance.now() - t0 < ms ? (n++, setTimeout(tick, 0)) : resolve((n * 1000) / ms));
  tick();
}), ms);

async function stepsPerMinute(p: Page, seconds: number): Promise<number> {
  const s0 = await stepOf(p);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return ((await stepOf(p)) - s0) * (60 / seconds);
}

for (const backend of BACKENDS) {
  test(`a hidden volunteer tab keeps training (${backend})`, async () => {
    const ctx = browser.contexts()[0];
    const page = ctx.pages()[0];
    page.on('pageerror', (e) => console.log(`[${backend}] page error: ${e.message}`));
    const res = await app.inject({
      method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
      payload: { interval: INTERVAL, rounds: 100_000, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f16', stepDeadlineMs: 600_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
    });
    expect(res.statusCode).toBe(201);
    const runId = res.json().id as string;
    try {
      await page.goto(`${base}/?sample=1&autostart=1&seed=7&n=40&backend=${backend}`);
      await expect.poll(() => page.evaluate(() => window.__splitlora?.backend ?? null), { timeout: 60_000 }).toBe(backend);
      await expect.poll(() => stepOf(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
      expect(await visibility(page)).toBe('visible');
      const visibleTimers = await timerRate(page, 2000);
      const visible = await stepsPerMinute(page, WINDOW_S);

      // Another tab to the front, in the same window: the volunteer tab is now a background tab.
      const front = await browser.newBrowserCDPSession();
      const { targetId } = await front.send('Target.createTarget', { url: 'about:blank', background: false });
      try {
        await expect.poll(() => visibility(page)).toBe('hidden');
        const hiddenTimers = await timerRate(page, 3000);
        const aggregations = await aggregationsOf(page);
        const steps = await stepOf(page);
        const hidden = await stepsPerMinute(page, WINDOW_S);
        console.log(`[${backend}] steps/min visible ${visible.toFixed(0)}, hidden ${hidden.toFixed(0)} (${WINDOW_S} s each); setTimeout(0) chain: ${visibleTimers.toFixed(0)}/s visible, ${hiddenTimers.toFixed(1)}/s hidden`);
        expect(hiddenTimers).toBeLessThan(visibleTimers); // Chrome throttles this tab's timers...
        // ...and training goes on, through an aggregation round, while it stays hidden.
        await expect.poll(() => stepOf(page), { timeout: 120_000 }).toBeGreaterThan(steps + INTERVAL);
        await expect.poll(() => aggregationsOf(page), { timeout: 120_000 }).toBeGreaterThan(aggregations);
        expect(await visibility(page)).toBe('hidden');
      } finally {
        await front.send('Target.closeTarget', { targetId });
        await front.detach();
      }
    } finally {
      await app.inject({ method: 'POST', url: `/api/runs/${runId}/stop`, headers: { authorization: `Bearer ${TOKEN}` } });
      await page.goto('about:blank');
    }
  });
}
