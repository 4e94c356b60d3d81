// The run history in SQLite (better-sqlite3, WAL): runs, rounds, clients and the metrics log.
// Synchronous by design: each call is one short statement or transaction on the event loop, and
// step metrics arrive in batches (see persistence.ts), so SQLite is never the bottleneck.
// `new Store(':memory:')` keeps everything in memory (tests, or a server without --data-dir).
import Database from 'better-sqlite3';
import type { ClientInfo, MetricEntry, RoundInfo } from '@splitlora/protocol';

export interface RunRow {
  id: string;
  name: string;
  /** The run settings as JSON (apps/server/src/settings.ts). */
  settings: Record<string, unknown>;
  modelId: string;
  cut: number;
  status: string;
  round: number;
  globalStep: number;
  lastLoss: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A round of the timeline, as stored and as the API shows it. */
export type RoundRow = RoundInfo;

/** A client as stored: what the API shows, plus its secret resume token, minus liveness. */
export interface ClientRow extends Omit<ClientInfo, 'connected'> {
  resumeToken: string;
}

/** One metrics-log entry: the run's metric event, flattened (kind-specific fields sit beside the common ones). */
export type MetricRow = MetricEntry;

export interface MetricQuery {
  /** Only entries at or after this time (ms, server clock). */
  since?: number;
  /** Only entries with a larger id (a cursor that never repeats or skips). */
  after?: number;
  kind?: string;
  limit?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, settings TEXT NOT NULL, model_id TEXT NOT NULL, cut INTEGER NOT NULL,
  status TEXT NOT NULL, round INTEGER NOT NULL DEFAULT 0, global_step INTEGER NOT NULL DEFAULT 0, last_loss REAL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  run_id TEXT NOT NULL REFERENCES runs(id), round INTEGER NOT NULL, participants INTEGER NOT NULL, failures TEXT NOT NULL,
  closed_by TEXT NOT NULL, aggregated INTEGER NOT NULL, reason TEXT, opened_at INTEGER, at INTEGER NOT NULL, checkpoint TEXT,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS clients (
  run_id TEXT NOT NULL REFERENCES runs(id), client_id TEXT NOT NULL, resume_token TEXT NOT NULL, backend TEXT NOT NULL,
  user_agent TEXT NOT NULL, examples INTEGER NOT NULL, steps INTEGER NOT NULL, tokens INTEGER NOT NULL, tokens_per_sec REAL,
  bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL, last_loss REAL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  PRIMARY KEY (run_id, client_id)
);
CREATE TABLE IF NOT EXISTS metrics (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, client_id TEXT,
  round INTEGER, step INTEGER, global_step INTEGER, loss REAL, tokens INTEGER, extra TEXT
);
CREATE INDEX IF NOT EXISTS metrics_run_at ON metrics (run_id, at);
`;

/** Statuses of a run that was still going when the server stopped. */
export const ACTIVE_STATUSES = ['waiting', 'training', 'aggregating', 'paused'] as const;

const COLUMNS = ['at', 'kind', 'clientId', 'round', 'step', 'globalStep', 'loss', 'tokens'] as const;

type Row = Record<string, unknown>;

export class Store {
  private readonly db: Database;

  /** `file` is a path or ":memory:". */
  constructor(readonly file: string) {
    this.db = new Database(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives a killed process (not necessarily a power cut), and is fast.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- runs -------------------------------------------------------------------------------

  insertRun(r: RunRow): void {
    this.db
      .prepare('INSERT INTO runs (id, name, settings, model_id, cut, status, round, global_step, last_loss, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.name, JSON.stringify(r.settings), r.modelId, r.cut, r.status, r.round, r.globalStep, r.lastLoss, r.createdAt, r.updatedAt);
  }

  updateRun(id: string, p: { status: string; round: number; globalStep: number; lastLoss: number | null; at: number }): void {
    this.db.prepare('UPDATE runs SET status = ?, round = ?, global_step = ?, last_loss = ?, updated_at = ? WHERE id = ?').run(p.status, p.round, p.globalStep, p.lastLoss, p.at, id);
  }

  getRun(id: string): RunRow | null {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return r ? toRun(r) : null;
  }

  /** Newest first. */
  listRuns(): RunRow[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC').all() as Row[]).map(toRun);
  }

  /** Runs that were still going when the server last stopped, newest first. */
  interruptedRuns(): RunRow[] {
    const marks = ACTIVE_STATUSES.map(() => '?').join(', ');
    return (this.db.prepare(`SELECT * FROM runs WHERE status IN (${marks}) ORDER BY created_at DESC, rowid DESC`).all(...ACTIVE_STATUSES) as Row[]).map(toRun);
  }

  // ---- rounds -----------------------------------------------------------------------------

  /** Replaces a round's row: after a resume, a round lost with its checkpoint is trained again. */
  putRound(runId: string, r: RoundRow): void {
    this.db
      .prepare('INSERT OR REPLACE INTO rounds (run_id, round, participants, failures, closed_by, aggregated, reason, opened_at, at, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(runId, r.round, r.participants, JSON.stringify(r.failures), r.closedBy, r.aggregated ? 1 : 0, r.reason, r.openedAt, r.at, r.checkpoint);
  }

  setRoundCheckpoint(runId: string, round: number, file: string): void {
    this.db.prepare('UPDATE rounds SET checkpoint = ? WHERE run_id = ? AND round = ?').run(file, runId, round);
  }

  rounds(runId: string): RoundRow[] {
    return (this.db.prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY round').all(runId) as Row[]).map((r) => ({
      round: r.round as number,
      participants: r.participants as number,
      failures: JSON.parse(r.failures as string) as string[],
      closedBy: r.closed_by as string,
      aggregated: r.aggregated === 1,
      reason: (r.reason as string | null) ?? null,
      openedAt: (r.opened_at as number | null) ?? null,
      at: r.at as number,
      checkpoint: (r.checkpoint as string | null) ?? null,
    }));
  }

  // ---- clients ----------------------------------------------------------------------------

  upsertClients(runId: string, clients: ClientRow[]): void {
    const st = this.db.prepare(
      `INSERT INTO clients (run_id, client_id, resume_token, backend, user_agent, examples, steps, tokens, tokens_per_sec, bytes_up, bytes_down, last_loss, first_seen, last_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, client_id) DO UPDATE SET resume_token = excluded.resume_token, backend = excluded.backend, user_agent = excluded.user_agent,
         examples = excluded.examples, steps = excluded.steps, tokens = excluded.tokens, tokens_per_sec = excluded.tokens_per_sec, bytes_up = excluded.bytes_up,
         bytes_down = excluded.bytes_down, last_loss = excluded.last_loss, last_seen = excluded.last_seen`,
    );
    this.transaction(() => {
      for (const c of clients) st.run(runId, c.id, c.resumeToken, c.backend, c.userAgent, c.examples, c.steps, c.tokens, c.tokensPerSec, c.bytesUp, c.bytesDown, c.lastLoss, c.firstSeen, c.lastSeen);
    });
  }

  clients(runId: string): ClientRow[] {
    return (this.db.prepare('SELECT * FROM clients WHERE run_id = ? ORDER BY first_seen, client_id').all(runId) as Row[]).map((r) => ({
      id: r.client_id as string,
      resumeToken: r.resume_token as string,
      backend: r.backend as string,
      userAgent: r.user_agent as string,
      examples: r.examples as number,
      steps: r.steps as number,
      tokens: r.tokens as number,
      tokensPerSec: (r.tokens_per_sec as number | null) ?? null,
      bytesUp: r.bytes_up as number,
      bytesDown: r.bytes_down as number,
      lastLoss: (r.last_loss as number | null) ?? null,
      firstSeen: r.first_seen as number,
      lastSeen: r.last_seen as number,
    }));
  }

  // ---- metrics ----------------------------------------------------------------------------

  /** Appends metric events in one transaction. Fields beyond the columns go to `extra` (JSON). */
  addMetrics(runId: string, metrics: readonly MetricRow[]): void {
    if (metrics.length === 0) return;
    const st = this.db.prepare('INSERT INTO metrics (run_id, at, kind, client_id, round, step, global_step, loss, tokens, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.transaction(() => {
      for (const m of metrics) {
        const extra: Row = {};
        for (const [k, v] of Object.entries(m)) if (!(COLUMNS as readonly string[]).includes(k) && k !== 'id' && v !== undefined) extra[k] = v;
        st.run(runId, m.at, m.kind, str(m.clientId), num(m.round), num(m.step), num(m.globalStep), num(m.loss), num(m.tokens), Object.keys(extra).length ? JSON.stringify(extra) : null);
      }
    });
  }

  /** Oldest first. */
  metrics(runId: string, q: MetricQuery = {}): MetricRow[] {
    const where = ['run_id = ?'];
    const args: unknown[] = [runId];
    if (q.since !== undefined) (where.push('at >= ?'), args.push(q.since));
    if (q.after !== undefined) (where.push('id > ?'), args.push(q.after));
    if (q.kind !== undefined) (where.push('kind = ?'), args.push(q.kind));
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = this.db.prepare(`SELECT * FROM metrics WHERE ${where.join(' AND ')} ORDER BY id${limit}`).all(...args) as Row[];
    return rows.map((r) => {
      const m: MetricRow = { id: r.id as number, at: r.at as number, kind: r.kind as string };
      if (r.client_id !== null) m.clientId = r.client_id as string;
      if (r.round !== null) m.round = r.round as number;
      if (r.step !== null) m.step = r.step as number;
      if (r.global_step !== null) m.globalStep = r.global_step as number;
      if (r.loss !== null) m.loss = r.loss as number;
      if (r.tokens !== null) m.tokens = r.tokens as number;
      return r.extra ? { ...(JSON.parse(r.extra as string) as Row), ...m } : m;
    });
  }
}

function toRun(r: Row): RunRow {
  return {
    id: r.id as string,
    name: r.name as string,
    settings: JSON.parse(r.settings as string) as Record<string, unknown>,
    modelId: r.model_id as string,
    cut: r.cut as number,
    status: r.status as string,
    round: r.round as number,
    globalStep: r.global_step as number,
    lastLoss: (r.last_loss as number | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown) => (typeof v === 'string' ? v : null);
