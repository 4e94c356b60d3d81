// The page's DOM: reads the controls, writes the status. No training logic here.
import type { VolunteerStats } from '@splitlora/client';
import { formatBytes, formatLoss, formatRate } from './format';
import { LossChart } from './loss-chart';

const STATE_TEXT: Record<VolunteerStats['status'], string> = {
  connecting: 'connecting to the server…',
  lobby: 'waiting for the operator to start a run',
  loading: 'loading the model',
  waiting: 'waiting for more volunteers',
  training: 'training',
  aggregating: 'waiting for the aggregation',
  excluded: 'left out of this round (too slow); back at the next',
  finished: 'run finished, thank you!',
  stopped: 'run stopped by the operator',
  error: 'error',
};

const MAX_LOG_LINES = 50;

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: element #${id} is missing from index.html`);
  return e as T;
}

export class Ui {
  readonly file = el<HTMLInputElement>('file');
  readonly sample = el<HTMLButtonElement>('sample');
  readonly skipBad = el<HTMLInputElement>('skip-bad');
  readonly join = el<HTMLButtonElement>('join');
  readonly leave = el<HTMLButtonElement>('leave');
  private readonly dataStatus = el('data-status');
  private readonly model = el('model');
  private readonly progress = el<HTMLProgressElement>('model-progress');
  private readonly modelStatus = el('model-status');
  private readonly log = el<HTMLUListElement>('log');
  private readonly defence = el('defence');
  private readonly chart = new LossChart(el('loss-chart'));
  private readonly cells = {
    state: el('s-state'), backend: el('s-backend'), step: el('s-step'), loss: el('s-loss'),
    speed: el('s-speed'), up: el('s-up'), down: el('s-down'), round: el('s-round'), aggregations: el('s-aggregations'),
    node: el('s-node'),
  };

  showBackend(name: string, requested: string | null): void {
    this.cells.backend.textContent = requested && requested !== name ? `${name} (asked for ${requested})` : name;
  }

  /** The backend the page moved to because the first one cannot hold the model, and why. */
  showBackendFallback(name: string, from: string, reason: string): void {
    this.cells.backend.textContent = `${name} (${from} cannot hold this model)`;
    this.cells.backend.title = reason;
    this.addLog(`using ${name} instead of ${from}: ${reason}`);
  }

  showBackendError(message: string): void {
    this.cells.backend.textContent = 'none';
    this.addLog(message, true);
  }

  showData(label: string): void {
    this.dataStatus.textContent = label;
    this.dataStatus.className = 'status ok';
  }

  showDataError(message: string): void {
    this.dataStatus.textContent = message;
    this.dataStatus.className = 'status error';
  }

  /** Which buttons work: data chosen and not joined → Join; joined → Leave. */
  setJoined(joined: boolean, haveData: boolean): void {
    this.join.disabled = joined || !haveData;
    this.leave.disabled = !joined;
    this.file.disabled = joined;
    this.sample.disabled = joined;
  }

  showDownload(loaded: number, total: number): void {
    this.model.hidden = false;
    this.progress.max = Math.max(total, 1);
    this.progress.value = loaded;
    const pct = total > 0 ? ` (${Math.floor((100 * loaded) / total)} %)` : '';
    this.modelStatus.textContent = `downloading the model: ${formatBytes(loaded)} of ${formatBytes(total)}${pct}`;
  }

  showDownloadRetry(loaded: number, attempt: number, error: string): void {
    this.addLog(`the download broke at ${formatBytes(loaded)} (${error}); resuming from there, try ${attempt}`, true);
  }

  showModelReady(fromCache: boolean, bytes: number, dtype = 'F32'): void {
    this.model.hidden = false;
    this.progress.max = 1;
    this.progress.value = 1;
    const what = `${formatBytes(bytes)}, ${dtype}`;
    this.modelStatus.textContent = fromCache ? `model loaded from cache (${what})` : `model downloaded (${what})`;
  }

  /** The server (cluster node) the socket goes to, with the failovers so far. */
  showNode(text: string): void {
    this.cells.node.textContent = text;
  }

  showStats(s: VolunteerStats): void {
    this.cells.state.textContent = STATE_TEXT[s.status] ?? s.status;
    this.cells.step.textContent = String(s.step);
    this.cells.loss.textContent = formatLoss(s.loss);
    this.cells.speed.textContent = s.step ? formatRate(s.tokensPerSec) : '–';
    this.cells.up.textContent = formatBytes(s.bytesUp);
    this.cells.down.textContent = formatBytes(s.bytesDown);
    this.cells.round.textContent = String(s.round);
    this.cells.aggregations.textContent = String(s.aggregations);
  }

  /** The run's activation defence and where its loss is computed, as the server's welcome states them. */
  showDefence(actClip: number | null, actNoise: number, labels: 'server' | 'client'): void {
    this.defence.hidden = false;
    const parts = [
      ...(actClip !== null ? [`every activation row is clipped to length ${actClip}`] : []),
      ...(actNoise > 0 ? [`Gaussian noise of σ = ${actNoise} is added to every value (drawn with a secret 256-bit key kept in this tab)`] : []),
    ];
    const defence = parts.length
      ? `Defence in force for this run: ${parts.join(', then ')}, before the activations leave this page. It makes them harder to invert.`
      : 'Defence in force for this run: none. The activations leave this page exactly as computed.';
    const where = labels === 'client'
      ? ' This run keeps the labels here: the target ids, the loss mask and the loss never leave this page (the server returns its output and this page computes the loss).'
      : ' This run computes the loss on the server: the target ids (your completions\' tokens) and the loss mask are sent with every batch.';
    this.defence.textContent = defence + where;
  }

  showLeft(): void {
    this.cells.state.textContent = 'not joined';
  }

  addStep(step: number, loss: number): void {
    this.chart.add(step, loss);
  }

  clearSteps(): void {
    this.chart.clear();
  }

  addLog(message: string, isError = false): void {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()}  ${message}`;
    if (isError) li.className = 'error';
    this.log.prepend(li);
    while (this.log.children.length > MAX_LOG_LINES) this.log.lastElementChild?.remove();
  }
}
