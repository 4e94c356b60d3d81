// Everything the dashboard knows about one run, refreshed by poll(). Routes the server does not
// offer (404) are marked unavailable and retried now and then; meanwhile the step and round
// history is rebuilt from the run's own summary, so charts and timeline still fill in.
import type { Api, Evaluation, Metric, RoundInfo, RunDetail } from './api';
import { RateTracker } from './rates';

const RETRY_MISSING_MS = 15_000;
const TERMINAL = new Set(['finished', 'stopped']);

type Feature = 'metrics' | 'rounds' | 'evaluations';

export class RunWatcher {
  detail: RunDetail | null = null;
  /** The metrics log, oldest first (from the server, or rebuilt from summaries). */
  readonly metrics: Metric[] = [];
  /** From /rounds, or null: then the timeline reads the 'round' metrics. */
  rounds: RoundInfo[] | null = null;
  /** Null while the server offers no evaluation route. */
  evaluations: Evaluation[] | null = null;
  rates = new Map<string, number | null>();
  error: string | null = null;
  private readonly missingSince = new Map<Feature, number>();
  private readonly rateTracker = new RateTracker();
  private readonly seenAtLast = new Set<string>();
  private lastAt: number | undefined;
  private lastId: number | undefined;
  private finalFetched = false;
  private polls = 0;
  private evalBusy = true;
  private inflight: Promise<void> | null = null;
  /** True while `metrics` is rebuilt from summaries (the server has no metrics route). */
  private synthesized = false;
  private lastSummary: { step: number; round: number; status: string; tokens: number } | null = null;

  constructor(private readonly api: Api, readonly id: string) {}

  get terminal(): boolean {
    return this.detail !== null && TERMINAL.has(this.detail.status);
  }

  available(f: Feature): boolean {
    return !this.missingSince.has(f);
  }

  /**
   * One refresh of the run: summary, clients, new metrics, rounds and evaluations. A call while
   * one is under way shares it, so the log cursor never races itself.
   */
  poll(): Promise<void> {
    this.inflight ??= this.refresh().finally(() => (this.inflight = null));
    return this.inflight;
  }

  private async refresh(): Promise<void> {
    this.polls++;
    try {
      this.detail = await this.api.run(this.id);
      this.error = null;
    } catch (e) {
      this.error = (e as Error).message;
      return;
    }
    this.rates = this.rateTracker.update(Date.now() + this.api.clockSkew, this.detail.clientList);
    // A finished run changes no more: fetch its history once more, then only its evaluations.
    const history = !this.finalFetched;
    if (this.terminal) this.finalFetched = true;
    await Promise.all([
      history && this.guard('metrics', () => this.fetchMetrics()),
      history && this.guard('rounds', async () => void (this.rounds = await this.api.rounds(this.id))),
      (this.evalBusy || this.polls % 5 === 1) && this.guard('evaluations', () => this.fetchEvaluations()),
    ]);
  }

  /** Polls evaluations on every tick until none runs (called after starting one). */
  watchEvaluations(): void {
    this.evalBusy = true;
  }

  private async guard(f: Feature, load: () => Promise<void>): Promise<void> {
    const since = this.missingSince.get(f);
    if (since !== undefined && Date.now() - since < RETRY_MISSING_MS) {
      if (f === 'metrics') this.rebuildFromSummary();
      return;
    }
    try {
      await load();
      this.missingSince.delete(f);
    } catch (e) {
      if ((e as { status?: number }).status !== 404) {
        this.error = (e as Error).message;
        return;
      }
      this.missingSince.set(f, Date.now());
      if (f === 'metrics') this.rebuildFromSummary();
      if (f === 'rounds') this.rounds = null;
      if (f === 'evaluations') this.evaluations = null;
    }
  }

  private async fetchMetrics(): Promise<void> {
    // Entries with ids are read after the newest id (steps are written in batches, so their times
    // are not in insertion order); without ids, from the newest time on.
    const cursor = this.synthesized ? {} : this.lastId !== undefined ? { after: this.lastId } : { since: this.lastAt };
    const fresh = await this.api.metrics(this.id, cursor);
    if (this.synthesized) {
      // The server has the route now: its whole log replaces what we rebuilt.
      this.metrics.length = 0;
      this.lastAt = this.lastId = undefined;
      this.seenAtLast.clear();
      this.synthesized = false;
    }
    const prevAt = this.lastAt;
    for (const m of fresh) {
      if (typeof m.id === 'number') {
        if (this.lastId !== undefined && m.id <= this.lastId) continue;
        this.lastId = m.id;
      } else {
        // `since` is inclusive: skip what an earlier read already returned from that millisecond.
        const key = JSON.stringify(m);
        if (prevAt !== undefined && (m.at < prevAt || (m.at === prevAt && this.seenAtLast.has(key)))) continue;
        if (this.lastAt === undefined || m.at > this.lastAt) {
          this.lastAt = m.at;
          this.seenAtLast.clear();
        }
        if (m.at === this.lastAt) this.seenAtLast.add(key);
      }
      this.metrics.push(m);
    }
  }

  private async fetchEvaluations(): Promise<void> {
    this.evaluations = await this.api.evaluations(this.id);
    this.evalBusy = this.evaluations.some((e) => e.status === 'running' || e.status === 'queued');
  }

  // ---- fallback: history rebuilt from successive summaries --------------------------------

  private rebuildFromSummary(): void {
    const d = this.detail;
    if (!d) return;
    this.synthesized = true;
    const at = Date.now() + this.api.clockSkew;
    const tokens = d.clientList.reduce((s, c) => s + c.tokens, 0);
    const last = this.lastSummary;
    if (last && d.step > last.step && d.lastLoss !== null) {
      this.metrics.push({ kind: 'step', at, globalStep: d.step, loss: d.lastLoss, tokens: tokens - last.tokens });
    }
    if (last && d.round > last.round) {
      for (let r = last.round; r < d.round; r++) this.metrics.push({ kind: 'round', at, round: r, participants: d.clients, aggregated: true, closedBy: '?' });
    }
    if (!last || d.status !== last.status) this.metrics.push({ kind: 'state', at, state: d.status, round: d.round });
    this.lastSummary = { step: d.step, round: d.round, status: d.status, tokens };
  }
}
