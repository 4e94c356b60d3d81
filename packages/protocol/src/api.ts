// What the operator REST API answers (docs/api.md): the server builds these objects and the
// dashboard reads them, so both sides type them from this one file. Types only: nothing here
// reaches a bundle.
import type { RunStateName } from './messages';

/** A run's status: the wire states plus "paused", which only the operator sees. */
export type RunStatus = RunStateName | 'paused';

export type RunAction = 'pause' | 'resume' | 'stop';

/** GET /api/health */
/** The training compute worker, as /api/health reports it. */
export interface ComputeHealthInfo {
  /** idle: not started yet (no run); failed: down, and restarting unless it failed too often. */
  status: 'idle' | 'starting' | 'ready' | 'failed' | 'closed';
  backend: string | null;
  /** Workers started after a failure. */
  restarts: number;
  lastFailure: { at: number; reason: string } | null;
}

export interface HealthInfo {
  /** False while the training compute is down or restarting. */
  ok: boolean;
  model: string;
  /** The tfjs backend the compute worker runs on (the requested one until it has started). */
  backend: string | null;
  /** The current run's id. */
  run: string | null;
  /** Whether runs are kept on disk (`--data-dir`). */
  persistent: boolean;
  compute: ComputeHealthInfo;
  /** Why the current run is held (paused until its compute is back), or null. */
  runHold: string | null;
}

export interface CheckpointInfo {
  round: number;
  file: string;
  at: number;
}

/** How a resumed run was brought back: the checkpoint used and the newer ones skipped. */
export interface RecoveryInfo {
  checkpoint: string | null;
  /** The round training continues from. */
  round: number;
  rejected: { file: string; reason: string }[];
  at: number;
}

/** GET /api/runs (each), POST /api/runs, POST /api/runs/:id/{pause,resume,stop} */
export interface RunSummary {
  id: string;
  name: string;
  status: RunStatus;
  round: number;
  rounds: number;
  /** Global step: local steps summed over all clients. */
  step: number;
  /** Connected clients. */
  clients: number;
  /** Mean of the clients' last losses. */
  lastLoss: number | null;
  /** The run settings as validated by the server (apps/server/src/settings.ts). */
  settings: Record<string, unknown>;
  cut: number;
  modelId: string;
  createdAt: number;
  /** Whether the run is in this server's memory (false for history). */
  live: boolean;
  /** The newest checkpoint this process wrote. */
  checkpoint: CheckpointInfo | null;
  /** Set when the run was resumed from a checkpoint after a server restart. */
  recovery: RecoveryInfo | null;
}

/** A client as the API shows it: no resume token. Times are server clock, ms since the epoch. */
export interface ClientInfo {
  id: string;
  connected: boolean;
  backend: string;
  userAgent: string;
  examples: number;
  steps: number;
  tokens: number;
  tokensPerSec: number | null;
  bytesUp: number;
  bytesDown: number;
  lastLoss: number | null;
  firstSeen: number;
  lastSeen: number;
}

/** GET /api/runs/:id */
export interface RunDetail extends RunSummary {
  clientList: ClientInfo[];
}

/** GET /api/runs/:id/rounds (each): the timeline. */
export interface RoundInfo {
  round: number;
  participants: number;
  /** "clientId:reason" per client left out of the round. */
  failures: string[];
  closedBy: string;
  aggregated: boolean;
  reason: string | null;
  openedAt: number | null;
  /** When the round closed. */
  at: number;
  /** The checkpoint file written after this aggregation, once it is on disk. */
  checkpoint: string | null;
}

/** GET /api/runs/:id/metrics (each): one log entry, kind-specific fields beside the common ones. */
export interface MetricEntry {
  /** Increasing in insertion order (a cursor). */
  id?: number;
  at: number;
  kind: 'step' | 'round' | 'client' | 'state' | 'eval' | 'throughput' | (string & {});
  clientId?: string;
  round?: number;
  step?: number;
  globalStep?: number;
  loss?: number;
  tokens?: number;
  heldoutLoss?: number;
  tokensPerSec?: number;
  state?: string;
  event?: string;
  participants?: number;
  failures?: string[];
  closedBy?: string;
  aggregated?: boolean;
  [k: string]: unknown;
}

/** GET /api/runs/:id/evaluations (each). */
export interface EvaluationInfo {
  id: string;
  runId: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  /** 0..1 */
  progress: number;
  data: string;
  startedAt: number;
  finishedAt?: number;
  result?: Record<string, number | string | null>;
  error?: string;
}
