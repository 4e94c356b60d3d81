// Acceptance test of the operator dashboard: it creates a run from its form, two volunteer tabs
// join, and the dashboard shows them, their steps and the loss; pause/resume/stop steer the run,
// a wrong token is refused with a clear message, and the downloads (metrics CSV, PEFT adapters)
// load back. The server runs in this process (web-server.ts: buildApp on port 0, serving dist/web-test), as in
// volunteers.spec.ts.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { adapterFromPeft } from '@splitlora/model';
import { readTar } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { startWebServer } from './web-server';

const TOKEN = 'dashboard-test-token';
const INTERVAL = 3;
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT ?? '/tmp/dashboard.png';

let app: FastifyInstance;
let base: string;

test.beforeAll(async () => {
  ({ app, base } = await startWebServer({ id: 'dashboard-tiny', token: TOKEN, page: 'dashboard.html' }));
});

test.afterAll(async () => {
  await app?.close();
});

const num = async (p: Page, sel: string) => Number((await p.locator(sel).textContent())?.replace(/[^\d.]/g, '') || NaN);
const points = async (p: Page, sel: string) => Number(await p.locator(sel).getAttribute('data-points'));
const apiStatus = async (id: string) => ((await (await fetch(`${base}/api/runs/${id}`)).json()) as { status: string }).status;

test('the dashboard starts a run, watches two volunteers train, and steers the run with the token', async ({ context, page }) => {
  page.on('pageerror', (e) => console.log(`[dashboard] page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept()); // the Stop confirmation

  // The token comes from the fragment and leaves the address bar.
  await page.goto(`${base}/dashboard.html#token=${TOKEN}`);
  await expect(page.locator('#token-state')).toHaveText('token set');
  expect(new URL(page.url()).hash).toBe('');
  await expect(page.locator('#cfg-model')).toHaveText('dashboard-tiny');
  await expect(page.locator('#runs')).toContainText('No run yet');

  // Configure a small run in the form (every other field keeps its default).
  const fill = async (key: string, value: string) => page.locator(`#set-${key.replace('.', '-')}`).fill(value);
  await expect(page.locator('#set-lora-r')).toHaveValue('4');
  await expect(page.locator('#set-wire')).toHaveValue('f16');
  await fill('name', 'dashboard e2e');
  for (const [k, v] of Object.entries({ interval: INTERVAL, rounds: 50, minClients: 2, batch: 4, seqLen: 48, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, stepDeadlineMs: 180_000, 'lora.alpha': 8, 'lora.dropout': 0 })) {
    await fill(k, String(v));
  }
  await page.locator('#set-wire').selectOption('f32');
  await page.locator('#set-lora-targets input[value="mlp.c_fc"]').check();
  await page.locator('#start').click();
  await expect(page.locator('#notice')).toContainText('Run started');
  await expect(page.locator('#run-name')).toHaveText('dashboard e2e');
  await expect(page.locator('#run-status')).toHaveText('waiting');
  const runId = await page.locator('#runs button.run').first().getAttribute('data-run-id');
  expect(runId).toBeTruthy();
  const created = (await (await fetch(`${base}/api/runs/${runId}`)).json()) as { settings: Record<string, unknown> };
  expect(created.settings).toMatchObject({ interval: INTERVAL, minClients: 2, batch: 4, wire: 'f32', lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] } });

  // Two volunteer tabs join (one on its own pick, one on WebGL); the dashboard lists both with
  // the backend each one reports.
  const tabs: Page[] = [];
  for (const [seed, backend] of [[1, ''], [2, '&backend=webgl']] as const) {
    const tab = await context.newPage();
    tab.on('pageerror', (e) => console.log(`[tab ${seed}] page error: ${e.message}`));
    await tab.goto(`${base}/?sample=1&autostart=1&seed=${seed}&n=20${backend}`);
    tabs.push(tab);
  }
  const rows = page.locator('#clients tbody tr[data-client-id]');
  await expect(rows).toHaveCount(2, { timeout: 60_000 });
  const backends = await Promise.all(tabs.map((t) => t.evaluate(() => window.__splitlora?.backend ?? null)));
  expect((await rows.locator('td.backend').allTextContents()).sort()).toEqual(backends.map(String).sort());
  await expect(page.locator('#clients-count')).toHaveText('2 connected');
  await expect(page.locator('#run-status')).toHaveText('training', { timeout: 60_000 });

  // The step count grows, the loss chart fills and tokens/s shows for the volunteers.
  const firstStep = await num(page, '#run-step');
  await expect.poll(() => num(page, '#run-step'), { timeout: 60_000 }).toBeGreaterThanOrEqual(firstStep + 4);
  await expect.poll(() => points(page, '#chart-loss')).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#chart-loss canvas')).toHaveCount(1);
  await expect.poll(() => points(page, '#chart-throughput')).toBeGreaterThanOrEqual(1);
  await expect(rows.first().locator('td.steps')).not.toHaveText('0');
  await expect(rows.first().locator('td.rate')).toHaveText(/^\d/); // tokens/s
  await expect(rows.first().locator('td').last()).toHaveText(/now|\d+ s ago/);
  // A round closes and shows on the timeline.
  await expect(page.locator('#timeline')).toContainText('round 1 aggregated', { timeout: 60_000 });

  // A wrong token: the action is refused with a clear message and the run goes on.
  await page.locator('#token').fill('not-the-token');
  await page.locator('#token-form button').click();
  await page.locator('#pause').click();
  await expect(page.locator('#notice')).toContainText('wrong or missing operator token');
  expect(await apiStatus(runId!)).toBe('training');
  await expect(page.locator('#run-status')).toHaveText('training');

  // The right token: pause, then resume, and training goes on.
  await page.locator('#token').fill(TOKEN);
  await page.locator('#token-form button').click();
  await expect(page.locator('#pause')).toBeEnabled();
  await page.locator('#pause').click();
  await expect(page.locator('#run-status')).toHaveText('paused');
  await expect(page.locator('#resume')).toBeEnabled();
  expect(await apiStatus(runId!)).toBe('paused');
  await expect(page.locator('#timeline li', { hasText: 'run paused' })).toHaveCount(1); // read once from the log
  await page.locator('#resume').click();
  await expect(page.locator('#run-status')).toHaveText('training');
  const resumedAt = await num(page, '#run-step');
  await expect.poll(() => num(page, '#run-step'), { timeout: 60_000 }).toBeGreaterThanOrEqual(resumedAt + 2);

  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Downloads: the metrics CSV holds the steps, and the adapter archive loads back as PEFT.
  const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-csv').click()]);
  const csvLines = readFileSync(await csv.path(), 'utf8').trim().split(/\r?\n/);
  expect(csvLines[0]).toMatch(/^id,at,kind,/);
  expect(csvLines.filter((l) => l.split(',')[2] === 'step').length).toBeGreaterThanOrEqual(4);
  const [tar] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-adapter').click()]);
  expect(tar.suggestedFilename()).toMatch(/\.tar$/);
  const files = new Map(readTar(new Uint8Array(readFileSync(await tar.path()))).map((e) => [e.name, e.data]));
  const cut = ((await (await fetch(`${base}/api/runs/${runId}`)).json()) as { cut: number }).cut;
  for (const part of ['client', 'server'] as const) {
    const { lora, cfg } = adapterFromPeft(new TextDecoder().decode(files.get(`${part}/adapter_config.json`)), files.get(`${part}/adapter_model.safetensors`)!);
    expect(cfg).toMatchObject({ r: 4, alpha: 8 });
    expect([...cfg.targets].sort()).toEqual(['mlp.c_fc', 'q', 'v']);
    const blocks = Object.keys(lora).map((k) => Number(/^h\.(\d+)\./.exec(k)?.[1]));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(part === 'client' ? b < cut : b >= cut, `${part} block ${b}, cut ${cut}`).toBe(true);
  }

  // Evaluation: held-out loss of the run's adapters, with its result in the table.
  await page.locator('#eval-limit').fill('8');
  await expect(page.locator('#eval-start')).toBeEnabled();
  await page.locator('#eval-start').click();
  await expect(page.locator('#evaluations tbody tr').first()).toContainText('done', { timeout: 60_000 });
  await expect(page.locator('#evaluations thead')).toContainText('meanNll');
  expect(Number(await page.locator('#evaluations tbody tr td.num').first().textContent())).toBeGreaterThan(0);

  // Stop: the run is over, shown read-only, and stays in the runs list.
  await page.locator('#stop').click();
  await expect(page.locator('#run-status')).toHaveText('stopped');
  await expect(page.locator('#readonly')).toBeVisible();
  for (const b of ['#pause', '#resume', '#stop']) await expect(page.locator(b)).toBeDisabled();
  await expect(page.locator(`#runs [data-run-id="${runId}"]`)).toContainText('stopped');

  const finalStep = await num(page, '#run-step');

  // A fresh tab (no token: it lives in one tab's sessionStorage) opens the past run read-only.
  const later = await context.newPage();
  await later.goto(`${base}/dashboard.html`);
  await expect(later.locator('#token-state')).toContainText('no token');
  await later.locator(`#runs [data-run-id="${runId}"]`).click();
  await expect(later.locator('#run-status')).toHaveText('stopped');
  await expect(later.locator('#readonly')).toBeVisible();
  expect(await num(later, '#run-step')).toBe(finalStep);
  // Its charts come from the metrics log, where the server keeps one.
  if ((await fetch(`${base}/api/runs/${runId}/metrics`)).ok) await expect.poll(() => points(later, '#chart-loss')).toBeGreaterThanOrEqual(finalStep);
  for (const t of tabs) await t.close();
});
