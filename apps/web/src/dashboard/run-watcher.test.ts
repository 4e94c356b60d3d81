import { describe, expect, it } from 'vitest';
import { ApiError, type Api, type Metric, type RunDetail } from './api';
import { RunWatcher } from './run-watcher';

const detail = (over: Partial<RunDetail> = {}): RunDetail => ({
  id: 'r1', name: 'run', status: 'training', round: 0, rounds: 5, step: 0, clients: 1, lastLoss: null, settings: {}, cut: 1, modelId: 'm',
  createdAt: 0, live: true, checkpoint: null, recovery: null,
  clientList: [{ id: 'c1', connected: true, backend: 'webgl', userAgent: 'ua', examples: 20, steps: 0, tokens: 0, tokensPerSec: null, bytesUp: 0, bytesDown: 0, lastLoss: null, firstSeen: 0, lastSeen: 0 }],
  ...over,
});

/** A fake API: `routes` says which optional routes exist; `log` is the server's metrics log. */
interface FakeState {
  detail: RunDetail;
  log: Metric[];
  routes: Set<string>;
  /** The cursor of each metrics request. */
  asked: { after?: number; since?: number }[];
}

function fakeApi(state: FakeState): Api {
  const missing = () => new ApiError(404, 'E_NOT_FOUND', 'Route not found');
  return {
    clockSkew: 0,
    run: async () => structuredClone(state.detail),
    metrics: async (_id: string, cursor: { after?: number; since?: number }) => {
      state.asked.push(cursor);
      if (!state.routes.has('metrics')) throw missing();
      const { after, since } = cursor;
      return state.log.filter((m) => (after === undefined || m.id! > after) && (since === undefined || m.at >= since)); // since is inclusive
    },
    rounds: async () => {
      if (!state.routes.has('rounds')) throw missing();
      return [];
    },
    evaluations: async () => {
      if (!state.routes.has('evaluations')) throw missing();
      return [{ id: 'e1', status: 'running', progress: 0.5 }];
    },
  } as unknown as Api;
}

describe('RunWatcher', () => {
  it('reads a log with ids after the newest id, even when times are out of order', async () => {
    const state: FakeState = { detail: detail(), log: [], routes: new Set(['metrics', 'rounds', 'evaluations']), asked: [] };
    const w = new RunWatcher(fakeApi(state), 'r1');
    // A state change is written at once, the step before it only with the next batch.
    state.log.push({ id: 1, kind: 'step', at: 100, globalStep: 1, loss: 3 }, { id: 2, kind: 'state', at: 300, state: 'paused' });
    await w.poll();
    state.log.push({ id: 3, kind: 'step', at: 250, globalStep: 2, loss: 2.9 });
    await w.poll();
    await w.poll();
    expect(state.asked).toEqual([{ since: undefined }, { after: 2 }, { after: 3 }]);
    expect(w.metrics.map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it('reads a log without ids from the newest time on, without duplicating that millisecond', async () => {
    const state: FakeState = { detail: detail(), log: [] as Metric[], routes: new Set(['metrics', 'rounds', 'evaluations']), asked: [] };
    const w = new RunWatcher(fakeApi(state), 'r1');
    state.log.push({ kind: 'step', at: 100, globalStep: 1, loss: 3 }, { kind: 'step', at: 200, globalStep: 2, loss: 2.9 });
    await w.poll();
    state.log.push({ kind: 'step', at: 200, globalStep: 3, loss: 2.8 }, { kind: 'step', at: 300, globalStep: 4, loss: 2.7 });
    await w.poll();
    expect(state.asked).toEqual([{ since: undefined }, { since: 200 }]);
    expect(w.metrics.map((m) => m.globalStep)).toEqual([1, 2, 3, 4]);
    expect(w.evaluations).toEqual([{ id: 'e1', status: 'running', progress: 0.5 }]);
    expect(w.available('metrics') && w.available('rounds') && w.available('evaluations')).toBe(true);
  });

  it('rebuilds steps, rounds and states from summaries while the server has no metrics route', async () => {
    const state: FakeState = { detail: detail(), log: [] as Metric[], routes: new Set<string>(), asked: [] };
    const w = new RunWatcher(fakeApi(state), 'r1');
    await w.poll();
    state.detail = detail({ step: 2, lastLoss: 3.5, clientList: [{ ...state.detail.clientList[0], tokens: 400 }] });
    await w.poll();
    state.detail = detail({ step: 4, round: 1, lastLoss: 3.1, status: 'paused', clientList: [{ ...state.detail.clientList[0], tokens: 800 }] });
    await w.poll();
    expect(w.available('metrics')).toBe(false);
    expect(w.rounds).toBeNull();
    expect(w.evaluations).toBeNull();
    expect(w.metrics.filter((m) => m.kind === 'step').map((m) => [m.globalStep, m.loss, m.tokens])).toEqual([[2, 3.5, 400], [4, 3.1, 400]]);
    expect(w.metrics.filter((m) => m.kind === 'round').map((m) => m.round)).toEqual([0]);
    expect(w.metrics.filter((m) => m.kind === 'state').map((m) => m.state)).toEqual(['training', 'paused']);
  });

  it('stops fetching the history of a finished run after one last read', async () => {
    const state: FakeState = { detail: detail({ status: 'finished' }), log: [{ kind: 'step', at: 1, globalStep: 1, loss: 1 }] as Metric[], routes: new Set(['metrics', 'rounds']), asked: [] };
    const w = new RunWatcher(fakeApi(state), 'r1');
    await w.poll();
    await w.poll();
    expect(state.asked).toEqual([{ since: undefined }]);
    expect(w.terminal).toBe(true);
    expect(w.metrics).toHaveLength(1);
  });

  it('reports an error other than 404 instead of hiding the feature', async () => {
    const state: FakeState = { detail: detail(), log: [] as Metric[], routes: new Set(['metrics', 'rounds']), asked: [] };
    const api = fakeApi(state);
    api.evaluations = async () => {
      throw new ApiError(500, 'E_INTERNAL', 'evaluation store is broken');
    };
    const w = new RunWatcher(api, 'r1');
    await w.poll();
    expect(w.error).toBe('evaluation store is broken');
    expect(w.available('evaluations')).toBe(true);
  });
});

describe('RunWatcher.poll', () => {
  it('shares a poll that is under way instead of racing it', async () => {
    const state: FakeState = { detail: detail(), log: [{ id: 1, kind: 'step', at: 1, globalStep: 1, loss: 1 }], routes: new Set(['metrics']), asked: [] };
    const w = new RunWatcher(fakeApi(state), 'r1');
    await Promise.all([w.poll(), w.poll(), w.poll()]);
    expect(state.asked).toHaveLength(1);
    expect(w.metrics).toHaveLength(1);
  });
});
