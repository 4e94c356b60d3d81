#!/usr/bin/env node
// Takes the README's two screenshots: the operator dashboard and a volunteer page, during the demo
// run on the offline default model. It starts its own server (`splitlora serve` on a free port,
// a fresh data directory, a fixed token), opens one volunteer tab on the built-in sample shard,
// lets it train for a while, then opens the dashboard beside it, saves both PNGs and stops the
// server. Needs the built web app (`npm run build:web`) and Debian's Chromium (/usr/bin/chromium).
//
//   node docs/images/capture.mjs [--root DIR] [--out DIR] [--steps N] [--chromium PATH]
//
// --root: the repository to serve from (default: this checkout); --out: where the PNGs go
// (default: docs/images); --steps: volunteer steps to wait for before the screenshots (default 25).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const root = resolve(flag('--root', join(here, '..', '..')));
const out = resolve(flag('--out', here));
const steps = Number(flag('--steps', '25'));
const executablePath = flag('--chromium', '/usr/bin/chromium');
const VIEWPORT = { width: 1280, height: 800 };
const TOKEN = 'screenshot';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Starts `splitlora serve` and resolves once it prints the volunteer URL. */
function startServer(port, dataDir) {
  const child = spawn(process.execPath, ['bin/splitlora.mjs', 'serve', '--port', String(port), '--token', TOKEN, '--data-dir', dataDir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start within 120 s:\n${log}`)), 120_000);
    const see = (chunk) => {
      log += chunk;
      if (log.includes('Volunteers open:')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout.on('data', see);
    child.stderr.on('data', see);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`the server exited (${code}) before it was ready:\n${log}`));
    });
  });
  return { child, ready };
}

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'splitlora-shots-'));
  const { child, ready } = startServer(port, dataDir);
  let browser;
  try {
    await ready;
    browser = await chromium.launch({ executablePath, headless: true });
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });

    // One volunteer on the sample shard, joined at once, on wasm (the fastest backend without a GPU).
    const volunteer = await context.newPage();
    await volunteer.goto(`${base}/?sample=1&seed=1&autostart=1&backend=wasm`);
    await volunteer.waitForFunction((n) => Number(document.querySelector('#s-step')?.textContent) >= n, steps, { timeout: 300_000 });

    const dashboard = await context.newPage();
    await dashboard.goto(`${base}/dashboard.html#token=${TOKEN}`);
    await dashboard.waitForFunction(() => /\d/.test(document.querySelector('#run-step')?.textContent ?? ''), null, { timeout: 60_000 });
    await dashboard.waitForTimeout(5_000); // a few throughput samples and chart redraws

    // The volunteer's view from "2. Join" down: the download, the status panel and its loss chart.
    await volunteer.evaluate(() => document.querySelector('#join-h')?.closest('section')?.scrollIntoView());
    for (const [name, page] of [['dashboard', dashboard], ['volunteer', volunteer]]) {
      const file = join(out, `${name}.png`);
      await page.bringToFront();
      await page.screenshot({ path: file });
      process.stderr.write(`${file}: ${(statSync(file).size / 1024).toFixed(0)} KB\n`);
    }
  } finally {
    await browser?.close();
    child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
