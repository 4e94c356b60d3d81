// What the operator API shows of a run: a live run's in-memory numbers, or a stored run's row.
import type { CheckpointInfo, ClientInfo, RecoveryInfo, RunStatus, RunSummary } from '@splitlora/protocol';
import type { Run } from './run';
import type { ClientRow, RunRow } from './store';

export function liveSummary(run: Run, checkpoint: CheckpointInfo | null, recovery: RecoveryInfo | null): RunSummary {
  const losses = [...run.clients.values()].map((c) => c.lastLoss).filter((x): x is number => x !== null);
  return {
    id: run.id, name: run.settings.name, status: run.state, round: run.round, rounds: run.settings.rounds, step: run.globalStep,
    clients: run.connected().length, lastLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
    settings: run.settings as Record<string, unknown>, cut: run.opts.cut, modelId: run.opts.modelId, createdAt: run.createdAt, live: true,
    checkpoint, recovery,
  };
}

export function storedSummary(r: RunRow): RunSummary {
  return {
    id: r.id, name: r.name, status: r.status as RunStatus, round: r.round, rounds: Number(r.settings.rounds ?? 0), step: r.globalStep, clients: 0, lastLoss: r.lastLoss,
    settings: r.settings, cut: r.cut, modelId: r.modelId, createdAt: r.createdAt, live: false, checkpoint: null, recovery: null,
  };
}

export function clientInfo(c: ClientRow & { connected: boolean }): ClientInfo {
  return {
    id: c.id, connected: c.connected, backend: c.backend, userAgent: c.userAgent, examples: c.examples, steps: c.steps, tokens: c.tokens,
    tokensPerSec: c.tokensPerSec, bytesUp: c.bytesUp, bytesDown: c.bytesDown, lastLoss: c.lastLoss, firstSeen: c.firstSeen, lastSeen: c.lastSeen,
  };
}
