// The volunteer page: pick a backend, pick data, join the current run, show what happens.
// Wiring only; each concern lives in its own module.
import { selectBrowserBackend } from '@splitlora/backend/browser';
import { Volunteer, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import { toWeights } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { io } from 'socket.io-client';
import { browserByteCache } from './byte-cache';
import { loadIdentity, saveIdentity } from './identity';
import { sampleShard, shardFromFile, type Shard } from './data-source';
import { readPageOptions } from './page-options';
import { TestHook } from './test-hook';
import { Ui } from './ui';
import './style.css';

const opts = readPageOptions(location.search, navigator.webdriver);
const ui = new Ui();
const hook = new TestHook(opts.record);
window.__splitlora = hook;

let shard: Shard | null = null;
let volunteer: Volunteer | null = null;

const backend = selectBrowserBackend(opts.backend).then(
  (name) => {
    hook.backend = name;
    ui.showBackend(name, opts.backend);
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
  const m = await downloadClientModel(location.origin, {
    cache: browserByteCache() ?? undefined,
    onProgress: (loaded, total) => ui.showDownload(loaded, total),
  });
  hook.model = { fromCache: m.fromCache, bytes: m.info.bytes };
  ui.showModelReady(m.fromCache, m.info.bytes);
  return { config: m.config, weights: toWeights(m.weights) };
}

function onEvent(e: VolunteerEvent): void {
  hook.record(e);
  if (e.type === 'stats') ui.showStats(e.stats);
  else if (e.type === 'step') ui.addStep(e.step, e.loss);
  else if (e.type === 'aggregate') ui.addLog(`round ${e.round} aggregated over ${e.participants} volunteers`);
  else if (e.type === 'uploaded') ui.addLog(`adapter sent for round ${e.round}`);
  else if (e.type === 'error') ui.addLog(`${e.code}: ${e.message}`, true);
  else if (e.type === 'log') ui.addLog(e.message, e.message.startsWith('error'));
  else if (e.type === 'identity') saveIdentity(sessionStorage, e.identity);
}

async function join(): Promise<void> {
  if (!shard || volunteer) return;
  const examples = shard.examples;
  ui.setJoined(true, true);
  let name: string;
  try {
    name = await backend;
  } catch {
    ui.setJoined(false, true);
    return;
  }
  const socket = io(location.origin, { parser: msgpackParser, transports: ['websocket'] });
  socket.on('connect_error', (err) => ui.addLog(`cannot reach the server: ${err.message}`, true));
  volunteer = new Volunteer({ socket, examples, backend: name, userAgent: navigator.userAgent, seed: opts.seed, loadModel, onEvent, identity: loadIdentity(sessionStorage) });
  hook.attach(volunteer);
  ui.clearSteps();
  volunteer.start();
}

function leave(): void {
  volunteer?.stop();
  volunteer = null;
  hook.attach(null);
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
ui.sample.addEventListener('click', () => {
  const s = sampleShard(opts.n, opts.seed);
  ui.showData(s.label);
  useShard(s);
});
ui.join.addEventListener('click', () => void join());
ui.leave.addEventListener('click', leave);

if (opts.sample) ui.sample.click();
if (opts.autostart) {
  if (shard) void join();
  else ui.addLog('autostart needs data: add sample=1 to the URL or choose a file', true);
}
