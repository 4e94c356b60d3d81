// A small loss-per-step chart (uPlot).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const HEIGHT = 120;
/** Whole steps only on the x axis. */
const STEP_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];

export class LossChart {
  private readonly steps: number[] = [];
  private readonly losses: number[] = [];
  private plot: uPlot | null = null;

  constructor(private readonly el: HTMLElement) {
    window.addEventListener('resize', () => this.plot?.setSize({ width: this.width(), height: HEIGHT }));
  }

  private width(): number {
    return Math.max(200, this.el.clientWidth);
  }

  add(step: number, loss: number): void {
    this.steps.push(step);
    this.losses.push(loss);
    if (!this.plot) {
      this.plot = new uPlot(
        {
          width: this.width(),
          height: HEIGHT,
          legend: { show: false },
          cursor: { show: false },
          scales: { x: { time: false } },
          series: [{}, { label: 'loss', stroke: '#2f5bd3', width: 1.5 }],
          axes: [{ size: 28, incrs: STEP_TICKS }, { size: 44 }],
        },
        [this.steps, this.losses],
        this.el,
      );
    } else {
      this.plot.setData([this.steps, this.losses]);
    }
  }

  clear(): void {
    this.steps.length = 0;
    this.losses.length = 0;
    this.plot?.destroy();
    this.plot = null;
  }
}
