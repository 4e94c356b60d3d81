// Tokens per second per volunteer, from the token counters of successive polls. A step adds a
// whole batch at once, so the rate is taken over a sliding window rather than between two polls.

interface Sample {
  t: number;
  tokens: number;
}

export class RateTracker {
  private readonly history = new Map<string, Sample[]>();

  constructor(private readonly windowMs = 5000) {}

  /** Records one poll (`now` in ms) and returns each client's rate, or null until two polls exist. */
  update(now: number, clients: readonly { id: string; tokens: number; connected?: boolean }[]): Map<string, number | null> {
    const rates = new Map<string, number | null>();
    for (const c of clients) {
      const h = this.history.get(c.id) ?? [];
      h.push({ t: now, tokens: c.tokens });
      // Keep one sample older than the window so the window is always fully spanned.
      while (h.length > 2 && h[1].t <= now - this.windowMs) h.shift();
      this.history.set(c.id, h);
      const first = h[0];
      const dt = (now - first.t) / 1000;
      rates.set(c.id, c.connected === false || dt <= 0 ? null : Math.max(0, c.tokens - first.tokens) / dt);
    }
    return rates;
  }

  reset(): void {
    this.history.clear();
  }
}
