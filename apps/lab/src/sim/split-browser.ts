// SplitLoRA with real browsers: the server (serving the built volunteer page) on loopback and N
// headless Chromium tabs (Playwright, the system Chromium, WebGPU enabled where it exists). Each
// tab gets its shard the way a volunteer does, as a local file picked in the page (setInputFiles):
// the text stays in the tab and never reaches the server. Bytes are the tab's WebSocket frames.
import type { ResolvedEngine } from '@splitlora/server';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { clientSeed, SeqLenStats } from './batches';
import { toJsonl } from './data';
import { startSplitServer } from './split-server';
import type { MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';
import { TEST_WEB_DIR, ensureWebBuilt } from './web-build';
import { wsFrameBytes } from './wire-meter';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-unsafe-webgpu'];

export interface BrowserOptions {
  /** The server's compute engine (default tfjs). */
  engine?: ResolvedEngine;
  /** Chromium binary (default $CHROMIUM_PATH or /usr/bin/chromium). Playwright never downloads one. */
  chromiumPath?: string;
  /** The built web app (default the test build, dist/web-test, built first when missing or older than the sources). */
  webDir?: string;
  /** Progress lines (the on-demand build of dist/web). */
  log?: (message: string) => void;
  /** tfjs backend to try first in tab c (the page's ?backend=); absent: the page's own choice. */
  backends?: (string | undefined)[];
  /** Fail when no step happens for this long (default 5 minutes). */
  stallMs?: number;
}

interface TabState {
  backend: string | null;
  status: string | null;
  step: number;
  loss: number | null;
}

interface TabSteps {
  backend: string | null;
  steps: { loss: number; tokens: number }[];
}

const frameLength = (p: string | Buffer) => (typeof p === 'string' ? Buffer.byteLength(p) : p.length);

function tabState(p: Page): Promise<TabState> {
  return p.evaluate(() => {
    const h = window.__splitlora;
    return { backend: h?.backend ?? null, status: h?.stats?.status ?? null, step: h?.stats?.step ?? 0, loss: h?.stats?.loss ?? null };
  });
}

export async function runSplitBrowser(model: SimModel, s: TrainSettings, data: SimData, hooks: RunHooks = {}, opts: BrowserOptions = {}): Promise<MethodRun> {
  const webDir = opts.webDir ?? TEST_WEB_DIR;
  if (!opts.webDir) await ensureWebBuilt(webDir, opts.log ?? (() => {}));
  if (!existsSync(join(webDir, 'index.html'))) throw new Error(`browser mode serves the volunteer page from ${webDir}, which is not built: run "npm run build:web:test" first`);
  const chromiumPath = opts.chromiumPath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install it (apt-get install chromium) or pass --chromium PATH`);
  const server = await startSplitServer(model, s, { webDir, engine: opts.engine });
  const errors: string[] = [];
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext();
    const meters = data.shards.map(() => ({ up: 0, down: 0 }));
    const pages: Page[] = [];
    for (const [c, shard] of data.shardText.entries()) {
      const page = await context.newPage();
      page.on('websocket', (ws) => {
        ws.on('framesent', (f) => { meters[c].up += wsFrameBytes(frameLength(f.payload), true); });
        ws.on('framereceived', (f) => { meters[c].down += wsFrameBytes(frameLength(f.payload), false); });
      });
      page.on('pageerror', (e) => errors.push(`tab ${c}: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(`tab ${c}: ${m.text()}`); });
      const backend = opts.backends?.[c] ? `&backend=${encodeURIComponent(opts.backends[c]!)}` : '';
      await page.goto(`${server.base}/?seed=${clientSeed(s.seed, c)}${backend}`);
      await page.locator('#file').setInputFiles({ name: `client-${c}.jsonl`, mimeType: 'application/json', buffer: Buffer.from(toJsonl(shard)) });
      await page.locator('#join').click(); // waits until the page has parsed the file and enabled the button
      pages.push(page);
    }
    const total = s.clients * s.steps;
    const poll = setInterval(() => {
      void Promise.all(pages.map(tabState)).then((st) => {
        const last = st.map((x) => x.loss).filter((x): x is number => x !== null);
        hooks.onStep?.(st.reduce((n, x) => n + x.step, 0), total, last.length ? last[last.length - 1] : NaN);
      }, () => {});
    }, 500);
    try {
      await server.finished(opts.stallMs ?? 300_000, () => errors.slice(-3).join('; ') || 'no tab reported an error');
      const t = Date.now();
      while ((await Promise.all(pages.map(tabState))).some((x) => x.status !== 'finished') && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearInterval(poll);
    }
    const wallSeconds = server.elapsedMs() / 1000;
    const tabs: TabSteps[] = await Promise.all(pages.map((p) => p.evaluate(() => {
      const h = window.__splitlora!;
      return { backend: h.backend, steps: h.events.flatMap((e) => (e.type === 'step' ? [{ loss: e.loss, tokens: e.tokens }] : [])) };
    })));
    const seqLens = new SeqLenStats();
    for (const t of tabs) for (const x of t.steps) seqLens.add(x.tokens / s.batch);
    return {
      method: 'split', mode: 'browser', clients: s.clients, stepsPerClient: s.steps, aggregations: server.run.round,
      losses: tabs.map((t) => t.steps.map((x) => x.loss)), checkpoints: server.checkpoints,
      bytesUp: meters.map((m) => m.up), bytesDown: meters.map((m) => m.down),
      backends: tabs.map((t) => t.backend ?? 'unknown'), wallSeconds, meanSeqLen: seqLens.mean, maxSeqLen: seqLens.max,
    };
  } finally {
    await browser?.close();
    await server.close();
  }
}
