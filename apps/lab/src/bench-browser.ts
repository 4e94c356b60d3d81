// bench-browser: GPT-2 S (random weights) split training in real Chromium tabs, one tab per
// browser backend (webgpu, webgl, wasm), against the real server (buildApp on loopback, a secure
// context, so navigator.gpu exists). Per backend: the client file's bytes and load time, peak
// tf.memory(), client forward / server / client backward ms per step, and tf.memory().numTensors
// at step 2 and at the last step (equal, or the page leaks a tensor per step).
// Not a test: on this machine's SwiftShader the GPU backends run on the CPU, so times are slow.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { selectNodeBackend } from '@splitlora/backend/node';
import { PRESETS, type PresetName } from '@splitlora/model';
import { buildApp } from '@splitlora/server';
import type { Experiment } from './experiment';
import { randomGpt2Weights } from './random-model';
import { CHROMIUM_ARGS } from './sim/split-browser';
import { TEST_WEB_DIR } from './sim/web-build';

export interface BrowserBenchOptions {
  preset?: PresetName;
  backends?: string[];
  steps?: number;
  batch?: number;
  seqLen?: number;
  cut?: number;
  /** The server's tfjs backend in Node (default wasm). */
  serverBackend?: string;
  /** Longest wait for one tab's steps. */
  tabTimeoutMs?: number;
  chromiumPath?: string;
  webDir?: string;
  log?: (message: string) => void;
}

interface StepTiming { step: number; startedAt: number; forwardMs: number; serverMs: number; backwardMs: number; numTensors: number; numBytes: number }

export interface BackendResult {
  asked: string;
  /** What the tab ran on (differs from `asked` after a fall-back). */
  backend: string | null;
  fallback: string | null;
  error: string | null;
  bytesDownloaded: number | null;
  dtype: string | null;
  downloadMs: number | null;
  decodeMs: number | null;
  /** Page load to the first step's start: backend start, download, check, decode, tensors. */
  readyMs: number | null;
  peakBytes: number;
  peakTensors: number;
  /** tf.memory() at the end (numBytesInGPU where the backend reports it). */
  memory: Record<string, unknown> | null;
  steps: StepTiming[];
  /** Medians over the steps after the first (which compiles shaders). */
  forwardMs: number | null;
  serverMs: number | null;
  backwardMs: number | null;
  numTensorsStep2: number | null;
  numTensorsLast: number | null;
  leakFree: boolean | null;
}

const TOKEN = 'bench-browser';

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function hookState(page: Page) {
  return page.evaluate(() => {
    const h = window.__splitlora;
    if (!h) return null;
    const mem = (h.memory ?? {}) as unknown as Record<string, unknown>;
    return {
      backend: h.backend, fallback: h.backendFallback, model: h.model, peak: { ...h.peak }, timings: [...h.timings],
      status: h.stats?.status ?? null, lastError: h.stats?.lastError ?? null,
      memory: Object.fromEntries(Object.entries(mem).filter(([, v]) => typeof v !== 'object')),
    };
  });
}

async function benchOneBackend(browser: Browser, base: string, asked: string, steps: number, timeoutMs: number, log: (m: string) => void): Promise<BackendResult> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const t0 = Date.now();
  const result: BackendResult = {
    asked, backend: null, fallback: null, error: null, bytesDownloaded: null, dtype: null, downloadMs: null, decodeMs: null, readyMs: null,
    peakBytes: 0, peakTensors: 0, memory: null, steps: [], forwardMs: null, serverMs: null, backwardMs: null, numTensorsStep2: null, numTensorsLast: null, leakFree: null,
  };
  try {
    await page.goto(`${base}/?sample=1&n=64&seed=1&autostart=1&backend=${asked}`);
    let lastLog = 0;
    for (;;) {
      const s = await hookState(page);
      if (s) {
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          log(`  ${asked}: ${s.status ?? '?'}, ${s.timings.length}/${steps} steps, ${Math.round((Date.now() - t0) / 1000)} s`);
        }
        if (s.timings.length >= steps || s.status === 'error' || s.status === 'finished' || s.status === 'stopped') {
          Object.assign(result, { backend: s.backend, fallback: s.fallback, peakBytes: s.peak.numBytes, peakTensors: s.peak.numTensors, memory: s.memory, steps: s.timings });
          if (s.model) Object.assign(result, { bytesDownloaded: s.model.bytes, dtype: s.model.dtype, downloadMs: Math.round(s.model.downloadMs), decodeMs: Math.round(s.model.decodeMs) });
          if (s.timings.length < steps) result.error = `the tab stopped (${s.status}) after ${s.timings.length} steps: ${s.lastError ?? errors.at(-1) ?? 'no error shown'}`;
          break;
        }
      }
      if (Date.now() - t0 > timeoutMs) {
        result.error = `timed out after ${timeoutMs / 1000} s with ${s?.timings.length ?? 0}/${steps} steps (${s?.status ?? 'no hook'}): ${errors.at(-1) ?? ''}`;
        if (s) Object.assign(result, { backend: s.backend, fallback: s.fallback, peakBytes: s.peak.numBytes, peakTensors: s.peak.numTensors, steps: s.timings });
        break;
      }
      await page.waitForTimeout(500);
    }
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    await context.close();
  }
  const later = result.steps.slice(1);
  result.forwardMs = median(later.map((t) => t.forwardMs));
  result.serverMs = median(later.map((t) => t.serverMs));
  result.backwardMs = median(later.map((t) => t.backwardMs));
  if (result.steps.length >= 2) {
    result.numTensorsStep2 = result.steps[1].numTensors;
    result.numTensorsLast = result.steps.at(-1)!.numTensors;
    result.leakFree = result.numTensorsStep2 === result.numTensorsLast;
  }
  // Page load to step 1: the model's download, check, decode and upload, and the backend's start.
  if (result.steps[0]) result.readyMs = Math.round(result.steps[0].startedAt);
  return result;
}

export async function runBrowserBench(o: BrowserBenchOptions = {}) {
  const log = o.log ?? (() => {});
  const preset = o.preset ?? 'gpt2';
  const config = PRESETS[preset];
  const steps = o.steps ?? 3;
  const batch = o.batch ?? 1;
  const seqLen = o.seqLen ?? 64;
  const cut = o.cut ?? 3;
  const backends = o.backends ?? ['webgpu', 'webgl', 'wasm'];
  const webDir = o.webDir ?? TEST_WEB_DIR;
  if (!existsSync(join(webDir, 'index.html'))) throw new Error(`${webDir}/index.html is missing: run "npm run build:web:test" first (npm run bench:browser does)`);
  const chromiumPath = o.chromiumPath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install it (apt-get install chromium) or set CHROMIUM_PATH`);

  // Where the server computes (its own worker, where the server has one) and this thread.
  const serverBackend = o.serverBackend ?? 'wasm';
  await selectNodeBackend(serverBackend, log);
  let t = Date.now();
  const weights = randomGpt2Weights(config, 1);
  log(`random ${preset} weights: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  const { app, manager } = await buildApp({ model: { id: `random-${preset}`, config, weights }, token: TOKEN, webDir, backend: serverBackend, maxBatch: Math.max(16, batch), maxSeqLen: Math.max(256, seqLen) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  log(`server on ${base} (${serverBackend}): ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  const file = await manager.clientFiles.get(cut); // built once per cut and shared by the tabs
  log(`client file at cut ${cut}: ${mb(file.safetensors.byteLength)} F16 (${((Date.now() - t) / 1000).toFixed(1)} s to build)`);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  const results: BackendResult[] = [];
  try {
    for (const asked of backends) {
      const settings = { name: `bench-browser-${asked}`, cut, batch, seqLen, interval: steps, rounds: 1, minClients: 1, stepDeadlineMs: o.tabTimeoutMs ?? 600_000, wire: 'f32', serverWarmup: 0, lora: { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] } };
      const created = await app.inject({ method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` }, payload: settings });
      if (created.statusCode !== 201) throw new Error(`creating the run failed: ${created.statusCode} ${created.body}`);
      const runId = created.json().id as string;
      log(`${asked}: opening a tab (${steps} steps, B=${batch}, T≤${seqLen}, cut ${cut})`);
      const r = await benchOneBackend(browser, base, asked, steps, o.tabTimeoutMs ?? 900_000, log);
      results.push(r);
      log(formatResult(r));
      await app.inject({ method: 'POST', url: `/api/runs/${runId}/stop`, headers: { authorization: `Bearer ${TOKEN}` } });
    }
  } finally {
    await browser.close();
    await app.close();
  }
  return { bench: 'browser', preset, cut, batch, seqLen, steps, serverBackend, results };
}

const mb = (n: number | null) => (n === null ? '–' : `${(n / 1e6).toFixed(1)} MB`);
const ms = (n: number | null) => (n === null ? '–' : `${Math.round(n)} ms`);

export function formatResult(r: BackendResult): string {
  const lines = [
    `${r.asked}${r.backend && r.backend !== r.asked ? ` → ran on ${r.backend}` : ''}${r.fallback ? ` (${r.fallback})` : ''}${r.error ? `  ERROR: ${r.error}` : ''}`,
    `  download ${mb(r.bytesDownloaded)} ${r.dtype ?? ''} in ${ms(r.downloadMs)}, check+decode+tensors ${ms(r.decodeMs)}, page load to step 1 ${ms(r.readyMs)}`,
    `  peak tf.memory(): ${mb(r.peakBytes)}, ${r.peakTensors} tensors`,
    `  per step (median of steps 2..${r.steps.length}): client forward ${ms(r.forwardMs)}, server ${ms(r.serverMs)}, client backward ${ms(r.backwardMs)}`,
    `  numTensors at step 2: ${r.numTensorsStep2 ?? '–'}, at step ${r.steps.length}: ${r.numTensorsLast ?? '–'}${r.leakFree === false ? '  LEAK' : ''}`,
  ];
  return lines.join('\n');
}

export const benchBrowser: Experiment<BrowserBenchOptions, Awaited<ReturnType<typeof runBrowserBench>>> = {
  name: 'bench-browser',
  description: 'split steps in real Chromium tabs (webgpu, webgl, wasm) on a random-weight model: bytes, load time, peak tf.memory(), forward/server/backward ms, tensor leaks',
  defaults: { preset: 'gpt2', backends: ['webgpu', 'webgl', 'wasm'], steps: 3, batch: 1, seqLen: 64, cut: 3, serverBackend: 'wasm' },
  run: (o, { log }) => runBrowserBench({ ...o, log }),
  report: async (result) => ({ json: result, files: [] }),
};
