// The shown run's header: name, status, counters and the buttons that steer it.
import type { RunDetail, RunStatus } from './api';
import { byId } from './dom';
import { formatAgo, formatLoss, formatRate } from './format';

const PAUSABLE: RunStatus[] = ['training', 'aggregating'];
const OVER: RunStatus[] = ['finished', 'stopped'];

export class RunPanel {
  readonly pause = byId<HTMLButtonElement>('pause');
  readonly resume = byId<HTMLButtonElement>('resume');
  readonly stop = byId<HTMLButtonElement>('stop');
  readonly downloadAdapter = byId<HTMLButtonElement>('dl-adapter');
  readonly downloadCsv = byId<HTMLButtonElement>('dl-csv');
  readonly reuse = byId<HTMLButtonElement>('reuse');
  private readonly cells = {
    name: byId('run-name'), status: byId('run-status'), id: byId('run-id'), readonly: byId('readonly'), recovery: byId('recovery'),
    round: byId('run-round'), step: byId('run-step'), clients: byId('run-clients'), loss: byId('run-loss'),
    speed: byId('run-speed'), shape: byId('run-shape'),
  };

  /** `throughput`: the server's latest tokens/s, or null; `now`: the server's clock (ms). */
  show(run: RunDetail | null, throughput: number | null, busy: boolean, now: number): void {
    const c = this.cells;
    if (!run) {
      c.name.textContent = 'No run';
      c.status.textContent = '–';
      c.status.className = 'badge';
      c.id.textContent = 'Configure a run on the left and press Start.';
      c.readonly.hidden = c.recovery.hidden = true;
      for (const b of [this.pause, this.resume, this.stop, this.downloadAdapter, this.downloadCsv, this.reuse]) b.disabled = true;
      return;
    }
    const over = OVER.includes(run.status);
    c.name.textContent = run.name;
    c.status.textContent = run.status;
    c.status.className = `badge ${run.status}`;
    const ckpt = run.checkpoint ? ` · checkpoint after round ${run.checkpoint.round + 1}, ${formatAgo(run.checkpoint.at, now)}` : '';
    c.id.textContent = `${run.id} · model ${run.modelId}${ckpt}`;
    c.readonly.hidden = !over;
    c.recovery.hidden = !run.recovery;
    if (run.recovery) c.recovery.textContent = recoveryText(run.recovery);
    c.round.textContent = `${run.round} / ${run.rounds}`;
    c.step.textContent = run.step.toLocaleString();
    c.clients.textContent = `${run.clients} connected`;
    c.loss.textContent = formatLoss(run.lastLoss);
    c.speed.textContent = throughput === null || over ? '–' : `${formatRate(throughput)} tokens/s`;
    const lora = run.settings.lora as { r?: number; targets?: string[] } | undefined;
    const rule = String(run.settings.aggregation ?? 'fedavg');
    const aggregation = rule === 'trimmed-mean' ? `trimmed mean (${run.settings.trim})` : rule;
    c.shape.textContent = `cut ${run.cut} · r ${lora?.r ?? '?'} · ${(lora?.targets ?? []).join(', ')} · ${aggregation}`;
    this.pause.disabled = busy || !PAUSABLE.includes(run.status);
    this.resume.disabled = busy || run.status !== 'paused';
    this.stop.disabled = busy || over;
    this.downloadAdapter.disabled = false;
    this.downloadCsv.disabled = false;
    this.reuse.disabled = false;
  }
}

function recoveryText(r: NonNullable<RunDetail['recovery']>): string {
  const from = r.checkpoint ? `from ${r.checkpoint.split('/').pop()}` : 'from the start (no checkpoint was intact)';
  const skipped = r.rejected.length ? `; skipped ${r.rejected.map((x) => `${x.file.split('/').pop()} (${x.reason})`).join(', ')}` : '';
  return `Resumed after a server restart ${from}, continuing with round ${r.round + 1}${skipped}.`;
}
