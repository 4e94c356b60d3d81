// All runs the server knows, newest first; clicking one opens it (read-only when it is over).
import type { RunSummary } from './api';
import { h } from './dom';
import { formatLoss } from './format';

export class RunsList {
  constructor(private readonly list: HTMLUListElement, private readonly onOpen: (id: string) => void) {}

  show(runs: readonly RunSummary[], shownId: string | null, currentId: string | null): void {
    if (runs.length === 0) {
      this.list.replaceChildren(h('li', { className: 'empty' }, 'No run yet. Configure one and press Start.'));
      return;
    }
    this.list.replaceChildren(
      ...[...runs].reverse().map((r) => {
        const b = h(
          'button',
          { type: 'button', className: r.id === shownId ? 'run selected' : 'run', dataset: { runId: r.id } },
          h('span', { className: 'run-name' }, r.name, r.id === currentId ? h('small', { className: 'tag' }, 'current') : ''),
          h('span', { className: `badge ${r.status}` }, r.status),
          h('small', { className: 'run-meta' }, `${r.id} · ${r.round}/${r.rounds} rounds · step ${r.step} · loss ${formatLoss(r.lastLoss)}`),
        );
        b.addEventListener('click', () => this.onOpen(r.id));
        return h('li', {}, b);
      }),
    );
  }
}
