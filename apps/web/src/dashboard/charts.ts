// uPlot line charts that redraw only when their data grew. Each chart's container carries
// data-points (the number of x values), which is what tests and curious operators can read.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Columns } from './series';

const HEIGHT = 180;
/** Whole steps only on a step axis. */
const STEP_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000];

export interface SeriesStyle {
  label: string;
  stroke: string;
  width?: number;
  /** Draw dots only (for sparse series such as held-out evaluations). */
  points?: boolean;
}

export interface ChartOptions {
  /** x in unix seconds (a time axis) rather than steps. */
  time: boolean;
  series: SeriesStyle[];
  yLabel: string;
  empty: string;
}

export class LineChart {
  private plot: uPlot | null = null;
  private shown = '';
  private readonly emptyEl: HTMLElement;

  constructor(private readonly el: HTMLElement, private readonly opts: ChartOptions) {
    this.emptyEl = Object.assign(document.createElement('p'), { className: 'empty', textContent: opts.empty });
    el.append(this.emptyEl);
    el.dataset.points = '0';
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
  }

  private size() {
    return { width: Math.max(240, this.el.clientWidth), height: HEIGHT };
  }

  set(data: Columns): void {
    const n = data[0].length;
    // Cheap change check: point count and the last values.
    const sig = `${n}:${data.map((c) => c.at(-1)).join(',')}`;
    if (sig === this.shown) return;
    this.shown = sig;
    this.el.dataset.points = String(n);
    this.emptyEl.hidden = n > 0;
    if (n === 0) {
      this.plot?.destroy();
      this.plot = null;
      return;
    }
    if (this.plot) {
      this.plot.setData(data as uPlot.AlignedData);
      return;
    }
    this.plot = new uPlot(
      {
        ...this.size(),
        scales: { x: { time: this.opts.time } },
        legend: { live: true },
        series: [
          { label: this.opts.time ? 'time' : 'step' },
          ...this.opts.series.map((s) => ({
            label: s.label, stroke: s.stroke, width: s.points ? 0 : s.width ?? 1.5,
            // uPlot shows a line's points by itself once they are sparse enough to see.
            points: s.points ? { show: true, size: 7, fill: s.stroke } : {},
            spanGaps: true,
          })),
        ],
        // Time ticks as a clock (uPlot's default adds the date, which crowds a narrow chart).
        axes: [this.opts.time ? { space: 70, values: (_u, ticks) => ticks.map(clock) } : { incrs: STEP_TICKS }, { label: this.opts.yLabel, size: 56 }],
      },
      data as uPlot.AlignedData,
      this.el,
    );
  }

  /** What the empty chart says (for example, that the server keeps no metrics log). */
  setEmptyText(text: string): void {
    this.emptyEl.textContent = text;
  }

  /** Forget the data (another run is shown). */
  clear(): void {
    this.set([[]]);
  }
}

function clock(sec: number): string {
  return new Date(sec * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}
