import { describe, expect, it } from 'vitest';
import type { ServerSnapshot } from '../compute/server-compute';
import { averageReplicas } from './average';

const snap = (a: number[], m: number[], step: number, mKey = true): ServerSnapshot => ({
  adapter: { x: { shape: [a.length], data: Float32Array.from(a) } },
  optimizer: { step, m: mKey ? { x: { shape: [m.length], data: Float32Array.from(m) } } : {}, v: { x: { shape: [m.length], data: Float32Array.from(m.map((y) => y * y)) } } },
  stats: { serverSteps: step, tokens: 0 },
});

describe('averageReplicas (server replicas, SplitFed V1)', () => {
  it('weights adapters and AdamW moments by tokens served; the step is the furthest replica\'s; counters add up', () => {
    const avg = averageReplicas(
      [
        { node: 'a', tokens: 300, steps: 3, snapshot: snap([1, 2], [0.5, 1], 7) },
        { node: 'b', tokens: 100, steps: 1, snapshot: snap([5, -2], [1.5, -1], 5) },
      ],
      { serverSteps: 10, tokens: 1000 },
    );
    expect([...avg.adapter.x.data]).toEqual([2, 1]); // 0.75·a + 0.25·b
    expect([...avg.optimizer.m.x.data]).toEqual([0.75, 0.5]);
    expect(avg.optimizer.v.x.data[0]).toBeCloseTo(0.75 * 0.25 + 0.25 * 2.25, 6);
    expect(avg.optimizer.step).toBe(7);
    expect(avg.stats).toEqual({ serverSteps: 14, tokens: 1400 });
  });

  it('counts a moment a replica never made as zeros, and weighs equally when nobody trained', () => {
    const avg = averageReplicas(
      [
        { node: 'a', tokens: 0, steps: 0, snapshot: snap([1, 1], [2, 2], 0, false) },
        { node: 'b', tokens: 0, steps: 0, snapshot: snap([3, 3], [2, 2], 0) },
      ],
      { serverSteps: 0, tokens: 0 },
    );
    expect([...avg.adapter.x.data]).toEqual([2, 2]);
    expect([...avg.optimizer.m.x.data]).toEqual([1, 1]);
  });

  it('refuses replicas of different shapes and an empty list', () => {
    const bad = snap([1, 2, 3], [1, 1, 1], 1);
    expect(() => averageReplicas([{ node: 'a', tokens: 1, steps: 1, snapshot: snap([1, 2], [1, 1], 1) }, { node: 'b', tokens: 1, steps: 1, snapshot: bad }], { serverSteps: 0, tokens: 0 })).toThrow(/shape/);
    expect(() => averageReplicas([], { serverSteps: 0, tokens: 0 })).toThrow(/no server replica/);
  });
});
