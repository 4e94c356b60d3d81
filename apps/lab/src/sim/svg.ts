// Small, dependency-free SVG charts for report.md: line charts (loss curves) and grouped bar
// charts (bytes, client cost). Plain SVG 1.1 that browsers and GitHub render.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface BarGroup {
  /** e.g. the method */
  label: string;
  /** one value per bar name */
  values: number[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 640;
const H = 380;
const M = { top: 36, right: 150, bottom: 52, left: 72 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Compact labels: 1.5k, 2M, 0.25; `step` (the tick spacing) sets the decimals of small values. */
export function fmtTick(v: number, step?: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (step !== undefined && step > 0) return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  return `${+v.toPrecision(3)}`;
}

const stepOf = (ticks: number[]) => (ticks.length > 1 ? ticks[1] - ticks[0] : undefined);

function frame(title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2 + M.left / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function axes(xTicks: { v: number; px: number; label: string }[], yTicks: { v: number; py: number }[], xLabel: string, yLabel: string): string[] {
  const x0 = M.left;
  const y0 = H - M.bottom;
  const out = [
    `<line x1="${x0}" y1="${M.top}" x2="${x0}" y2="${y0}" stroke="black"/>`,
    `<line x1="${x0}" y1="${y0}" x2="${W - M.right}" y2="${y0}" stroke="black"/>`,
  ];
  for (const t of yTicks) {
    out.push(`<line x1="${x0}" y1="${t.py}" x2="${W - M.right}" y2="${t.py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${t.py + 4}" text-anchor="end">${fmtTick(t.v, stepOf(yTicks.map((y) => y.v)))}</text>`);
  }
  for (const t of xTicks) out.push(`<text x="${t.px}" y="${y0 + 16}" text-anchor="middle">${esc(t.label)}</text>`);
  out.push(`<text x="${(x0 + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(M.top + y0) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  return out;
}

function legend(names: string[]): string[] {
  return names.flatMap((n, i) => {
    const y = M.top + 8 + i * 18;
    const x = W - M.right + 12;
    return [`<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`, `<text x="${x + 18}" y="${y + 1}">${esc(n)}</text>`];
  });
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) return frame(title, [`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`]);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [xlo, xhi] = [Math.min(0, ...xs), Math.max(...xs)];
  let [ylo, yhi] = [Math.min(...ys), Math.max(...ys)];
  if (xhi === xlo) xhi = xlo + 1;
  const pad = (yhi - ylo) * 0.05 || Math.abs(yhi) * 0.05 || 1;
  [ylo, yhi] = [ylo - pad, yhi + pad];
  const yt = niceTicks(ylo, yhi);
  [ylo, yhi] = [Math.min(ylo, yt[0]), Math.max(yhi, yt[yt.length - 1])];
  const xt = niceTicks(xlo, xhi);
  xhi = Math.max(xhi, xt[xt.length - 1]);
  const px = (x: number) => M.left + ((x - xlo) / (xhi - xlo)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - ylo) / (yhi - ylo)) * (H - M.top - M.bottom);
  const body = axes(xt.map((v) => ({ v, px: px(v), label: fmtTick(v, stepOf(xt)) })), yt.map((v) => ({ v, py: py(v) })), xLabel, yLabel);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const d = good.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    body.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${d}"/>`);
    for (const [x, y] of good) body.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
  });
  return frame(title, [...body, ...legend(series.map((s) => s.name))]);
}

/** Grouped bars: one group per entry of `groups`, one bar per name in `bars`. */
export function barChart(title: string, yLabel: string, bars: string[], groups: BarGroup[]): string {
  const all = groups.flatMap((g) => g.values).filter(Number.isFinite);
  const yhi0 = Math.max(0, ...all) || 1;
  const yt = niceTicks(0, yhi0);
  const yhi = Math.max(yhi0, yt[yt.length - 1]);
  const py = (y: number) => H - M.bottom - (y / yhi) * (H - M.top - M.bottom);
  const plotW = W - M.left - M.right;
  const gw = plotW / Math.max(1, groups.length);
  const bw = (gw * 0.7) / Math.max(1, bars.length);
  const body = axes(groups.map((g, i) => ({ v: i, px: M.left + gw * (i + 0.5), label: g.label })), yt.map((v) => ({ v, py: py(v) })), '', yLabel);
  groups.forEach((g, i) => {
    g.values.forEach((v, j) => {
      if (!Number.isFinite(v)) return;
      const x = M.left + gw * i + gw * 0.15 + j * bw;
      const y = py(v);
      body.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - M.bottom - y).toFixed(1)}" fill="${COLORS[j % COLORS.length]}"/>`);
      body.push(`<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmtTick(v)}</text>`);
    });
  });
  return frame(title, [...body, ...(bars.length > 1 ? legend(bars) : [])]);
}
