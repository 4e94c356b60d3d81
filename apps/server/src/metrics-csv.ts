// The metrics log as CSV (RFC 4180): one header row, one row per entry. The common fields get
// their own columns; whatever else an entry carries (round outcomes, client events, throughput)
// goes into the last column as JSON.
import type { MetricRow } from './store';

export const CSV_COLUMNS = ['id', 'at', 'kind', 'clientId', 'round', 'step', 'globalStep', 'loss', 'tokens'] as const;

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function metricsCsv(rows: readonly MetricRow[]): string {
  const lines = [[...CSV_COLUMNS, 'extra'].join(',')];
  for (const r of rows) {
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (!(CSV_COLUMNS as readonly string[]).includes(k)) extra[k] = v;
    lines.push([...CSV_COLUMNS.map((c) => cell(r[c])), Object.keys(extra).length ? cell(extra) : ''].join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
