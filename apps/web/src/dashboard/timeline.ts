// Rounds and aggregations over time: a strip with one segment per round (its width is the
// round's duration) and a list of rounds, pauses and resumptions, newest first.
import type { Metric, RoundInfo } from './api';
import { h } from './dom';
import { formatClock, formatDuration } from './format';

export interface TimelineEntry {
  at: number;
  kind: 'round' | 'state';
  text: string;
  detail: string;
  ok: boolean;
}

/** Rounds from /rounds when the server has it, else from the 'round' metrics. */
export function roundsOf(rounds: RoundInfo[] | null, metrics: readonly Metric[]): RoundInfo[] {
  if (rounds) return [...rounds].sort((a, b) => a.round - b.round);
  return metrics
    .filter((m) => m.kind === 'round' && typeof m.round === 'number')
    .map((m) => ({ round: m.round!, participants: m.participants ?? 0, failures: m.failures ?? [], closedBy: m.closedBy ?? '', aggregated: m.aggregated !== false, reason: null, openedAt: null, at: m.at, checkpoint: null }));
}

export function timelineEntries(rounds: readonly RoundInfo[], metrics: readonly Metric[]): TimelineEntry[] {
  const entries: TimelineEntry[] = rounds.map((r) => ({
    at: r.at, kind: 'round', ok: r.aggregated,
    text: `round ${r.round + 1} ${r.aggregated ? 'aggregated' : 'closed without aggregating'}`,
    detail: [`${r.participants} volunteer${r.participants === 1 ? '' : 's'}`, r.failures.length ? `${r.failures.length} dropped (${r.failures.join(', ')})` : '', r.closedBy && r.closedBy !== '?' ? `closed by ${r.closedBy}` : '']
      .filter(Boolean).join(' · '),
  }));
  for (const m of metrics) if (m.kind === 'state' && m.state) entries.push({ at: m.at, kind: 'state', ok: m.state !== 'stopped', text: `run ${m.state}`, detail: '' });
  return entries.sort((a, b) => b.at - a.at);
}

export class Timeline {
  constructor(private readonly strip: HTMLElement, private readonly list: HTMLOListElement) {}

  show(rounds: readonly RoundInfo[], metrics: readonly Metric[], total: number, startedAt: number | null): void {
    this.strip.dataset.rounds = String(rounds.length);
    let prev = startedAt ?? rounds[0]?.at ?? 0;
    const segs = rounds.map((r) => {
      const ms = Math.max(1, r.at - prev);
      prev = r.at;
      return segment(r.aggregated ? 'ok' : 'bad', `round ${r.round + 1}: ${formatDuration(ms)}, ${r.participants} volunteers`, ms);
    });
    const left = Math.max(0, total - rounds.length);
    // The remaining rounds get the mean duration so far, so the strip reads as progress.
    const mean = rounds.length ? (prev - (startedAt ?? rounds[0].at)) / rounds.length || 1 : 1;
    if (left > 0) segs.push(segment('todo', `${left} round${left === 1 ? '' : 's'} to go`, mean * left));
    this.strip.replaceChildren(...segs);

    const entries = timelineEntries(rounds, metrics);
    this.list.replaceChildren(
      ...(entries.length ? entries.slice(0, 200).map((e) => h('li', { className: `${e.kind} ${e.ok ? 'ok' : 'bad'}` }, h('time', {}, formatClock(e.at)), h('b', {}, e.text), e.detail ? ` · ${e.detail}` : ''))
        : [h('li', { className: 'empty' }, 'No round has closed yet.')]),
    );
  }
}

function segment(kind: 'ok' | 'bad' | 'todo', title: string, grow: number): HTMLSpanElement {
  const e = h('span', { className: `seg ${kind}`, title });
  e.style.flexGrow = String(grow);
  return e;
}
