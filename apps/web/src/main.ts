// The volunteer page: pick a backend, pick data, join the current run, show what happens.
// Wiring only; each concern lives in its own module.
import { fitBackendToModel, limitWebglTextureSize, selectBrowserBackend, type BrowserBackend } from '@splitlora/backend/browser';
import { Volunteer, WireMeter, downloadClientModel, fetchModelInfo, fetchNodeUrls, type VolunteerEvent } from '@splitlora/client';
import { configFromHf, toWeights } from '@splitlora/model';
import { io, type Socket } from 'socket.io-client';
import { browserByteCache } from './byte-cache';
import { loadIdentity, loadNoiseKey, saveIdentity } from './identity';
import { sampleShard, shardFromFile, type Shard } from './data-source';
import { keepWebglReadbacksOffTimers } from './hidden-tab';
import { NodeStatus, chooseNodes } from './nodes';
import { readPageOptions } from './page-options';
import type { TestHook } from './test-hook';
import { Ui } from './ui';
import './style.css';

const opts = readPageOptions(location.search, navigator.webdriver);
const ui = new Ui();
// window.__splitlora, for the browser tests and the lab's browser runs: only in the test build
// (`vite build --mode test`, into dist/web-test). The production build drops this branch, and the
// hook's module with it.
let hook: TestHook | null = null;
if (import.meta.env.MODE === 'test') {
  const { TestHook } = await import('./test-hook');
  hook = new TestHook(opts.record);
  window.__splitlora = hook;
  if (opts.record) hook.trackMemoryPeak();
}
if (opts.webglMaxTexture) limitWebglTextureSize(opts.webglMaxTexture);

let shard: Shard | null = null;
let volunteer: Volunteer | null = null;
let nodeStatus: NodeStatus | null = null;
if (opts.nodesError) ui.addLog(`${opts.nodesError}; fix the page's URL to join`, true);

const backend = selectBrowserBackend(opts.backend).then(
  (name) => {
    if (hook) hook.backend = name;
    ui.showBackend(name, opts.backend);
    if (name === 'webgl') keepWebglReadbacksOffTimers();
    return name;
  },
  (e: unknown) => {
    ui.showBackendError(e instanceof Error ? e.message : String(e));
    throw e;
  },
);

function useShard(s: Shard | null): void {
  shard = s;
  ui.setJoined(volunteer !== null, shard !== null);
}

async function loadModel() {
  const t0 = performance.now();
  let downloaded = t0;
  const m = await downloadClientModel(location.origin, {
    cache: browserByteCache() ?? undefined,
    onProgress: (loaded, total) => {
      ui.showDownload(loaded, total);
      if (loaded === total) downloaded = performance.now();
    },
    onRetry: (attempt, loaded, error) => ui.showDownloadRetry(loaded, attempt, error),
  });
  const weights = toWeights(m.weights);
  const done = performance.now();
  if (hook) hook.model = { fromCache: m.fromCache, bytes: m.bytes, dtype: m.dtype, resumes: m.resumes, verified: m.verified, downloadMs: downloaded - t0, decodeMs: done - downloaded };
  ui.showModelReady(m.fromCache, m.bytes, m.dtype);
  return { config: m.config, weights };
}

/**
 * Moves off a backend that cannot hold this server's model (WebGL's texture limit on GPT-2's
 * embedding), before the hello, so the hello names the backend really used. Returns that name as
 * the hello carries it.
 */
async function fitToModel(name: BrowserBackend): Promise<string> {
  try {
    const info = await fetchModelInfo(location.origin);
    if (!info.architecture) return name;
    const choice = await fitBackendToModel(name, configFromHf(info.architecture));
    if (choice.fellBackFrom) {
      if (hook) {
        hook.backend = choice.name;
        hook.backendFallback = choice.reason;
      }
      ui.showBackendFallback(choice.name, choice.fellBackFrom, choice.reason!);
    }
    return choice.label;
  } catch (e) {
    ui.addLog(`could not check the model against ${name}: ${e instanceof Error ? e.message : String(e)}`, true);
    return name;
  }
}

function onEvent(e: VolunteerEvent): void {
  hook?.record(e);
  if (e.type === 'stats') ui.showStats(e.stats);
  else if (e.type === 'step') ui.addStep(e.step, e.loss);
  else if (e.type === 'aggregate') ui.addLog(`round ${e.round} aggregated over ${e.participants} volunteers`);
  else if (e.type === 'uploaded') ui.addLog(`adapter sent for round ${e.round}`);
  else if (e.type === 'error') ui.addLog(`${e.code}: ${e.message}`, true);
  else if (e.type === 'log') ui.addLog(e.message, e.message.startsWith('error'));
  else if (e.type === 'identity') saveIdentity(sessionStorage, e.identity);
  else if (e.type === 'defence') ui.showDefence(e.actClip, e.actNoise, e.labels);
  else if (e.type === 'failover' && nodeStatus) {
    ui.addLog(nodeStatus.see(e)!, true);
    ui.showNode(nodeStatus.text);
  }
}

/** A socket to one cluster node (the node list's connect); `meter` counts its bytes for Sent / Received. */
function nodeSocket(url: string, meter: WireMeter): Socket {
  const socket = io(url, { parser: meter.parser, transports: ['websocket'], forceNew: true });
  socket.on('connect_error', (err) => ui.addLog(`cannot reach node ${url}: ${err.message}`, true));
  hook?.watchSocket(socket);
  return socket;
}

async function join(): Promise<void> {
  if (!shard || volunteer) return;
  if (opts.nodesError) {
    ui.addLog(`cannot join: ${opts.nodesError}`, true);
    return;
  }
  const examples = shard.examples;
  ui.setJoined(true, true);
  let name: string;
  try {
    name = await fitToModel(await backend);
  } catch {
    ui.setJoined(false, true);
    return;
  }
  const nodes = await chooseNodes(opts.nodes, () => fetchNodeUrls(location.origin), Math.random());
  // Sent / Received: the bytes of every packet on this volunteer's sockets, as the parser encodes them.
  const meter = new WireMeter();
  let to: { socket: Socket } | { nodes: { urls: string[]; connect: (url: string) => Socket; failoverMs?: number } };
  if (nodes.urls) {
    to = { nodes: { urls: nodes.urls, connect: (url) => nodeSocket(url, meter), failoverMs: opts.failoverMs ?? undefined } };
    ui.addLog(`training through ${nodes.urls.length} node${nodes.urls.length === 1 ? '' : 's'} (${nodes.source === 'url' ? 'from the page URL' : 'listed by the server'}): ${nodes.urls.join(', ')}`);
  } else {
    const socket = io(location.origin, { parser: meter.parser, transports: ['websocket'] });
    socket.on('connect_error', (err) => ui.addLog(`cannot reach the server: ${err.message}`, true));
    hook?.watchSocket(socket);
    to = { socket };
  }
  nodeStatus = new NodeStatus(nodes.urls?.[0] ?? location.origin);
  ui.showNode(nodeStatus.text);
  volunteer = new Volunteer({ ...to, examples, backend: name, userAgent: navigator.userAgent, seed: opts.seed, loadModel, onEvent, identity: loadIdentity(sessionStorage), noiseKey: loadNoiseKey(sessionStorage) });
  hook?.attach(volunteer);
  ui.clearSteps();
  volunteer.start();
}

function leave(): void {
  volunteer?.stop();
  volunteer = null;
  hook?.attach(null);
  ui.showLeft();
  ui.setJoined(false, shard !== null);
}

ui.file.addEventListener('change', async () => {
  const file = ui.file.files?.[0];
  if (!file) return;
  try {
    const s = await shardFromFile(file, ui.skipBad.checked);
    ui.showData(s.label);
    useShard(s);
  } catch (e) {
    ui.showDataError(e instanceof Error ? e.message : String(e));
    useShard(null);
  }
});
ui.skipBad.addEventListener('change', () => {
  if (ui.file.files?.length) ui.file.dispatchEvent(new Event('change'));
});
function useSample(): void {
  const s = sampleShard(opts.n, opts.seed);
  ui.showData(s.label);
  useShard(s);
}
// The sample shard is synthetic (nothing private to review), so picking it joins at once; a
// picked file waits for "Join training".
ui.sample.addEventListener('click', () => {
  useSample();
  void join();
});
ui.join.addEventListener('click', () => void join());
ui.leave.addEventListener('click', leave);

if (opts.sample) useSample();
if (opts.autostart) {
  if (shard) void join();
  else ui.addLog('autostart needs data: add sample=1 to the URL or choose a file', true);
}
