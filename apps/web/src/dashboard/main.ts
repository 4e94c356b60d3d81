// The operator dashboard: wiring only. It polls the REST API about once a second; every module
// below owns one part of the page.
import { Api, ApiError, type Health, type RunAction, type RunSummary } from './api';
import { LineChart } from './charts';
import { ClientsTable } from './clients-table';
import { ConfigForm } from './config-form';
import { byId } from './dom';
import { EvaluationsPanel } from './evaluations';
import { RunPanel } from './run-panel';
import { RunWatcher } from './run-watcher';
import { RunsList } from './runs-list';
import { heldoutSeries, lossSeries, throughputSeries } from './series';
import { defaultSettings } from './settings-fields';
import { Timeline, roundsOf } from './timeline';
import { TokenStore } from './token';
import './dashboard.css';

const POLL_MS = 1000;
/** Health and the runs list change slowly: refresh them every few polls. */
const LIST_EVERY = 3;

const tokens = new TokenStore(sessionStorage);
tokens.adoptFromLocation(location, history);
const api = new Api(() => tokens.get());

const form = new ConfigForm(byId<HTMLFormElement>('config'), byId('config-fields'));
const panel = new RunPanel();
const clients = new ClientsTable(byId<HTMLTableElement>('clients').tBodies[0], byId('clients-count'));
const timeline = new Timeline(byId('timeline-strip'), byId<HTMLOListElement>('timeline'));
const evals = new EvaluationsPanel(byId<HTMLTableElement>('evaluations'), byId('eval-note'), byId<HTMLButtonElement>('eval-start'));
const runsList = new RunsList(byId<HTMLUListElement>('runs'), (id) => open(id, id !== health?.run));
const charts = {
  loss: new LineChart(byId('chart-loss'), {
    time: false, yLabel: 'loss', empty: 'No step yet.',
    series: [{ label: 'loss', stroke: '#9db1e8', width: 1 }, { label: 'mean of 10', stroke: '#2f5bd3', width: 2 }],
  }),
  heldout: new LineChart(byId('chart-heldout'), {
    time: false, yLabel: 'held-out loss', empty: 'No held-out evaluation yet: start one under Evaluation.',
    series: [{ label: 'held-out loss', stroke: '#b54708', points: true }],
  }),
  throughput: new LineChart(byId('chart-throughput'), {
    time: true, yLabel: 'tokens/s', empty: 'No step yet.',
    series: [{ label: 'tokens/s', stroke: '#9fd4ad', width: 1 }, { label: 'mean of 10 s', stroke: '#1a7f37', width: 2 }],
  }),
};

let health: Health | null = null;
let runs: RunSummary[] = [];
let watcher: RunWatcher | null = null;
/** True while the operator looks at a run they picked; false: follow the server's current run. */
let pinned = false;
let busy = false;
let tick = 0;

// ---- notices ---------------------------------------------------------------------------------

const notice = byId('notice');
/** Whether the notice shows a polling error (cleared once polling works again). */
let noticeFromPoll = false;
function say(message: string | null, kind: 'error' | 'ok' = 'error', fromPoll = false): void {
  noticeFromPoll = fromPoll;
  notice.hidden = !message;
  notice.textContent = message ?? '';
  notice.className = `notice ${kind}`;
}

function showToken(): void {
  byId('token-state').textContent = tokens.get() ? 'token set' : 'no token: actions will be refused';
}

// ---- polling -------------------------------------------------------------------------------

function open(id: string, pin: boolean): void {
  pinned = pin;
  if (watcher?.id === id) return;
  watcher = new RunWatcher(api, id);
  for (const c of Object.values(charts)) c.clear();
  render();
  void refreshRun();
}

/** The training worker as /api/health reports it: a failure is shown until the worker is back. */
function computeText(h: Health): string {
  const c = h.compute;
  const failure = c.lastFailure ? `; last failure ${new Date(c.lastFailure.at).toLocaleTimeString()}: ${c.lastFailure.reason}` : '';
  const restarts = c.restarts > 0 ? `, restarted ${c.restarts}×` : '';
  const hold = h.runHold ? ` (run paused until it is back)` : '';
  return `compute ${c.status}${hold}${restarts}${failure}`;
}

async function refreshLists(): Promise<void> {
  try {
    [health, runs] = await Promise.all([api.health(), api.runs()]);
    byId('h-model').textContent = byId('cfg-model').textContent = health.model;
    byId('h-backend').textContent = health.backend ?? 'default';
    byId('h-compute').textContent = computeText(health);
    byId('h-store').textContent = health.persistent ? 'history on disk' : 'history in memory only (no --data-dir)';
    byId('h-conn').textContent = 'connected';
    const shown = watcher?.id ?? null;
    // Follow the current run (or the newest one) unless the operator picked another.
    const follow = health.run ?? runs.at(-1)?.id ?? null;
    if (follow && (!pinned || !shown) && follow !== shown) open(follow, false);
    runsList.show(runs, watcher?.id ?? null, health.run);
  } catch (e) {
    byId('h-conn').textContent = (e as Error).message;
  }
}

async function refreshRun(): Promise<void> {
  if (!watcher) return;
  const w = watcher;
  await w.poll();
  if (w === watcher) render();
}

function render(): void {
  const w = watcher;
  const d = w?.detail ?? null;
  const thr = throughputSeries(w?.metrics ?? []);
  panel.show(d, d && thr[2].length ? (thr[2].at(-1) as number) : null, busy, Date.now() + api.clockSkew);
  if (!w || !d) {
    clients.show([], new Map(), Date.now());
    return;
  }
  clients.show(d.clientList, w.rates, Date.now() + api.clockSkew);
  // A past run's history can only come from the server's log; live runs are rebuilt from polls.
  const noLog = !w.available('metrics') && w.terminal ? 'The server keeps no metrics log (GET /api/runs/:id/metrics answered 404).' : null;
  // A U-shaped run's loss is computed in the volunteers' pages and never reaches the server.
  const pageLoss = d.settings.labels === 'client' ? 'Labels stay in the volunteers\' pages (labels: client): the server never sees a training loss. Run an evaluation for the held-out loss.' : null;
  charts.loss.setEmptyText(noLog ?? pageLoss ?? 'No step yet.');
  charts.throughput.setEmptyText(noLog ?? 'No step yet.');
  charts.loss.set(lossSeries(w.metrics));
  charts.heldout.set(heldoutSeries(w.metrics));
  charts.throughput.set(thr);
  const startedAt = w.metrics.find((m) => m.kind === 'state' && m.state === 'training')?.at ?? null;
  timeline.show(roundsOf(w.rounds, w.metrics), w.metrics, d.rounds, startedAt);
  evals.show(w.evaluations, !busy);
  const evalData = byId<HTMLInputElement>('eval-data');
  if (!evalData.value && typeof d.settings.evalData === 'string') evalData.placeholder = d.settings.evalData;
  if (w.error) say(w.error, 'error', true);
  else if (noticeFromPoll) say(null);
}

async function loop(): Promise<void> {
  if (tick++ % LIST_EVERY === 0) await refreshLists();
  await refreshRun();
  setTimeout(() => void loop(), POLL_MS);
}

// ---- actions -------------------------------------------------------------------------------

/** Runs one mutating request; its error (401 names the token) goes to the notice line. */
async function act(what: () => Promise<unknown>, done: string): Promise<boolean> {
  busy = true;
  render();
  try {
    await what();
    say(done, 'ok');
    return true;
  } catch (e) {
    say(e instanceof ApiError ? e.message : String(e));
    return false;
  } finally {
    busy = false;
    await Promise.all([refreshLists(), refreshRun()]);
  }
}

byId<HTMLFormElement>('config').addEventListener('submit', (ev) => {
  ev.preventDefault();
  let settings: Record<string, unknown>;
  try {
    settings = form.collect();
  } catch (e) {
    say((e as Error).message);
    return;
  }
  void act(async () => {
    const run = await api.createRun(settings);
    open(run.id, false);
  }, 'Run started; volunteers on the volunteer page join it on their own.');
});
byId('defaults').addEventListener('click', () => form.fill(defaultSettings()));

for (const action of ['pause', 'resume', 'stop'] as RunAction[]) {
  panel[action].addEventListener('click', () => {
    const id = watcher?.id;
    if (!id) return;
    if (action === 'stop' && !confirm('Stop this run for good? A stopped run cannot be resumed.')) return;
    void act(() => api.act(id, action), `Run ${action === 'stop' ? 'stopped' : action === 'pause' ? 'paused' : 'resumed'}.`);
  });
}

async function save(path: string, fallbackName: string): Promise<void> {
  try {
    const { blob, filename } = await api.download(path);
    const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: filename ?? fallbackName });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    const err = e as ApiError;
    say(err.notFound ? `The server has no ${path.split('/').pop()?.split('?')[0]} download yet (404).` : err.message);
  }
}
panel.downloadAdapter.addEventListener('click', () => watcher && void save(`/api/runs/${watcher.id}/adapter`, `${watcher.id}-adapter.tar`));
panel.downloadCsv.addEventListener('click', () => watcher && void save(`/api/runs/${watcher.id}/metrics?format=csv`, `${watcher.id}-metrics.csv`));
panel.reuse.addEventListener('click', () => {
  if (watcher?.detail) form.fill(watcher.detail.settings);
  byId('config').scrollIntoView({ behavior: 'smooth' });
});

byId<HTMLFormElement>('eval-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const w = watcher;
  if (!w) return;
  const data = byId<HTMLInputElement>('eval-data').value.trim();
  const limit = Number(byId<HTMLInputElement>('eval-limit').value);
  const e2eMrs = Number(byId<HTMLInputElement>('eval-e2e').value);
  void act(async () => {
    await api.evaluate(w.id, { ...(data ? { data } : {}), ...(limit > 0 ? { limit } : {}), ...(e2eMrs > 0 ? { e2eMrs } : {}) });
    w.watchEvaluations();
  }, 'Evaluation started.');
});

byId<HTMLFormElement>('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = byId<HTMLInputElement>('token');
  tokens.set(input.value.trim() || null);
  input.value = '';
  showToken();
  say(null);
});

showToken();
render();
void loop();
