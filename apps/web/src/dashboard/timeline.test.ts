import { describe, expect, it } from 'vitest';
import type { Metric } from './api';
import { roundsOf, timelineEntries } from './timeline';

describe('timeline', () => {
  const metrics: Metric[] = [
    { kind: 'state', at: 10, state: 'training' },
    { kind: 'round', at: 20, round: 0, participants: 2, failures: [], closedBy: 'all', aggregated: true },
    { kind: 'state', at: 25, state: 'paused' },
    { kind: 'round', at: 30, round: 1, participants: 1, failures: ['c-2:deadline'], closedBy: 'deadline', aggregated: false },
  ];

  it('takes rounds from the metrics when the server has no /rounds', () => {
    expect(roundsOf(null, metrics).map((r) => [r.round, r.participants, r.aggregated])).toEqual([[0, 2, true], [1, 1, false]]);
    const round = { participants: 3, failures: [], closedBy: 'all', aggregated: true, reason: null, openedAt: null, checkpoint: null };
    const fromServer = [{ ...round, round: 1, at: 9 }, { ...round, round: 0, at: 5 }];
    expect(roundsOf(fromServer, metrics).map((r) => r.round)).toEqual([0, 1]);
  });

  it('lists rounds and state changes, newest first, naming failures', () => {
    const e = timelineEntries(roundsOf(null, metrics), metrics);
    expect(e.map((x) => x.text)).toEqual(['round 2 closed without aggregating', 'run paused', 'round 1 aggregated', 'run training']);
    expect(e[0].detail).toBe('1 volunteer · 1 dropped (c-2:deadline) · closed by deadline');
    expect(e[0].ok).toBe(false);
  });
});
