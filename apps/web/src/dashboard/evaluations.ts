// Evaluations of the shown run: a form to start one (held-out file on the server, a line
// limit) and a table of results, with a progress bar while one runs.
import type { Evaluation } from './api';
import { h } from './dom';

/** Result keys in the order an operator reads them; others follow alphabetically. */
const FIRST = ['meanNll', 'perplexity', 'BLEU', 'NIST', 'METEOR', 'ROUGE_L', 'CIDEr'];

export class EvaluationsPanel {
  constructor(
    private readonly table: HTMLTableElement,
    private readonly note: HTMLElement,
    private readonly button: HTMLButtonElement,
  ) {}

  /** `evaluations` null: the server has no evaluation route yet. */
  show(evaluations: Evaluation[] | null, canStart: boolean): void {
    this.button.disabled = !canStart || evaluations === null;
    if (evaluations === null) {
      this.note.textContent = 'This server does not offer evaluation yet (GET /api/runs/:id/evaluations answered 404).';
      this.table.replaceChildren();
      return;
    }
    this.note.textContent = evaluations.length ? '' : 'No evaluation of this run yet.';
    const keys = [...new Set(evaluations.flatMap((e) => Object.keys(e.result ?? {})))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    this.table.replaceChildren(
      h('thead', {}, h('tr', {}, h('th', {}, 'Evaluation'), h('th', {}, 'Status'), ...keys.map((k) => h('th', { className: 'num' }, k)))),
      h('tbody', {}, ...evaluations.map((e) => h(
        'tr',
        { dataset: { evaluationId: e.id } },
        h('td', {}, e.id),
        h('td', {}, ...status(e)),
        ...keys.map((k) => h('td', { className: 'num' }, value(e.result?.[k]))),
      ))),
    );
  }
}

function rank(k: string): number {
  const i = FIRST.indexOf(k);
  return i < 0 ? FIRST.length : i;
}

function status(e: Evaluation): (Node | string)[] {
  if (e.status === 'running' || e.status === 'queued') {
    const p = Math.max(0, Math.min(1, e.progress ?? 0));
    return [h('progress', { max: 1, value: p }), ` ${Math.round(p * 100)} %`];
  }
  return [e.error ? h('span', { className: 'error', title: e.error }, `${e.status}: ${e.error}`) : e.status];
}

function value(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}
