import { describe, expect, it } from 'vitest';
import { RateTracker } from './rates';

describe('RateTracker', () => {
  it('has no rate from one poll, then tokens per second over the window', () => {
    const r = new RateTracker(5000);
    expect(r.update(0, [{ id: 'a', tokens: 0 }]).get('a')).toBeNull();
    expect(r.update(1000, [{ id: 'a', tokens: 200 }]).get('a')).toBe(200);
    expect(r.update(2000, [{ id: 'a', tokens: 200 }]).get('a')).toBe(100);
    // 100 tokens/s until t = 5 s, then 10 tokens/s: after 5 s more, only the new rate shows.
    const tokens = (t: number) => (t <= 5000 ? t / 10 : 500 + (t - 5000) / 100);
    for (let t = 3000; t <= 10_000; t += 1000) r.update(t, [{ id: 'a', tokens: tokens(t) }]);
    expect(r.update(11_000, [{ id: 'a', tokens: tokens(11_000) }]).get('a')).toBeCloseTo(10, 6);
  });

  it('shows no rate for a disconnected client and tracks clients separately', () => {
    const r = new RateTracker();
    r.update(0, [{ id: 'a', tokens: 0 }, { id: 'b', tokens: 0 }]);
    const rates = r.update(2000, [{ id: 'a', tokens: 100, connected: false }, { id: 'b', tokens: 400 }]);
    expect(rates.get('a')).toBeNull();
    expect(rates.get('b')).toBe(200);
  });
});
