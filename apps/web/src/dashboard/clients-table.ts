// The volunteers of the shown run: one row each, connected ones first.
import type { ClientInfo } from './api';
import { h } from './dom';
import { formatAgo, formatBytes, formatLoss, formatRate, shortUserAgent } from './format';

export class ClientsTable {
  constructor(private readonly body: HTMLTableSectionElement, private readonly count: HTMLElement) {}

  /** `now` is the server's clock (ms), so "last seen" does not depend on this machine's clock. */
  show(clients: readonly ClientInfo[], rates: Map<string, number | null>, now: number): void {
    const sorted = [...clients].sort((a, b) => Number(b.connected) - Number(a.connected) || b.lastSeen - a.lastSeen);
    const connected = clients.filter((c) => c.connected).length;
    this.count.textContent = `${connected} connected${clients.length > connected ? `, ${clients.length - connected} left` : ''}`;
    if (sorted.length === 0) {
      this.body.replaceChildren(h('tr', {}, h('td', { colSpan: 10, className: 'empty' }, 'No volunteer has joined yet. Share the volunteer page: ', h('a', { href: '/' }, `${location.origin}/`))));
      return;
    }
    this.body.replaceChildren(
      ...sorted.map((c) => {
        const rate = rates.get(c.id);
        return h(
          'tr',
          { className: c.connected ? '' : 'gone', dataset: { clientId: c.id } },
          h('td', {}, h('span', { className: `dot ${c.connected ? 'on' : 'off'}`, title: c.connected ? 'connected' : 'disconnected' }), ` ${c.id}`),
          h('td', { className: 'backend' }, c.backend),
          h('td', { title: c.userAgent }, shortUserAgent(c.userAgent)),
          num(c.examples.toLocaleString()),
          num(c.steps.toLocaleString(), 'steps'),
          h('td', { className: 'num rate', title: `${c.tokens.toLocaleString()} tokens in all` }, rate === null || rate === undefined ? '–' : formatRate(rate)),
          num(formatBytes(c.bytesUp)),
          num(formatBytes(c.bytesDown)),
          num(formatLoss(c.lastLoss)),
          h('td', { title: new Date(c.lastSeen).toLocaleString() }, formatAgo(c.lastSeen, now)),
        );
      }),
    );
  }
}

function num(text: string, className = ''): HTMLTableCellElement {
  return h('td', { className: `num ${className}`.trim() }, text);
}
