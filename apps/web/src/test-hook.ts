// window.__splitlora: what a test (or a curious volunteer in the console) can read from the page.
// Adapters are copied to plain number arrays so that Playwright can return them as JSON.
import type { Volunteer, VolunteerEvent, VolunteerStats } from '@splitlora/client';

export type PlainAdapter = Record<string, number[]>;

export type RecordedEvent =
  | { type: 'step'; step: number; loss: number; tokens: number; ms: number }
  | { type: 'uploaded'; round: number; examples: number; adapter: PlainAdapter | null }
  | { type: 'aggregate'; round: number; participants: number; adapter: PlainAdapter | null }
  | { type: 'restored'; step: number; epoch: number; cursor: number };

function plain(rec: Record<string, { data: Float32Array }>): PlainAdapter {
  return Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, Array.from(t.data)]));
}

export class TestHook {
  /** The tfjs backend this page runs on. */
  backend: string | null = null;
  model: { fromCache: boolean; bytes: number } | null = null;
  readonly events: RecordedEvent[] = [];
  private volunteer: Volunteer | null = null;

  /** `recordAdapters`: keep each uploaded and aggregated adapter (memory grows with rounds). */
  constructor(private readonly recordAdapters: boolean) {}

  attach(v: Volunteer | null): void {
    this.volunteer = v;
  }

  get stats(): VolunteerStats | null {
    return this.volunteer ? { ...this.volunteer.stats } : null;
  }

  /** The adapter the client model holds right now. */
  async adapter(): Promise<PlainAdapter | null> {
    const a = await this.volunteer?.adapter();
    return a ? plain(a) : null;
  }

  record(e: VolunteerEvent): void {
    const keep = (a: Record<string, { data: Float32Array }>) => (this.recordAdapters ? plain(a) : null);
    if (e.type === 'step') this.events.push({ type: 'step', step: e.step, loss: e.loss, tokens: e.tokens, ms: e.ms });
    else if (e.type === 'uploaded') this.events.push({ type: 'uploaded', round: e.round, examples: e.examples, adapter: keep(e.adapter) });
    else if (e.type === 'aggregate') this.events.push({ type: 'aggregate', round: e.round, participants: e.participants, adapter: keep(e.adapter) });
    else if (e.type === 'restored') this.events.push({ type: 'restored', step: e.state.step, epoch: e.state.dataOrder.epoch, cursor: e.state.dataOrder.cursor });
  }
}

declare global {
  interface Window {
    __splitlora?: TestHook;
  }
}
