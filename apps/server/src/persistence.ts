// Records one live run: its metric events into SQLite (step metrics batched, at most every
// FLUSH_MS, everything else at once), its clients and counters, and a checkpoint after every
// aggregation (its checkpointStage, which the run runs after each aggregation). Checkpoint writes
// are chained, so they land in round order and never overlap.
import type { FastifyBaseLogger } from 'fastify';
import { join } from 'node:path';
import type { CheckpointInfo } from '@splitlora/protocol';
import { writeCheckpoint, type CheckpointData } from './checkpoint';
import type { AggregatedEvent, AggregationStage, ClientRecord, Run, RunMetric } from './run';
import type { ClientRow, MetricRow, Store } from './store';

/** Step metrics wait at most this long before they are written. */
export const FLUSH_MS = 250;
/** ... or until this many are waiting. */
const FLUSH_ROWS = 500;
/** How often server throughput is sampled into the metrics log while the run trains. */
const THROUGHPUT_MS = 2000;

export interface RecorderOptions {
  store: Store;
  /** Where checkpoints go; null keeps none (a server without a data directory). */
  checkpointDir: string | null;
  log: FastifyBaseLogger;
}

export function clientRow(c: ClientRecord): ClientRow {
  return {
    id: c.id, resumeToken: c.resumeToken, backend: c.backend, userAgent: c.userAgent, examples: c.examples, steps: c.steps, tokens: c.tokens,
    tokensPerSec: c.tokensPerSec, bytesUp: c.bytesUp, bytesDown: c.bytesDown, lastLoss: c.lastLoss, firstSeen: c.firstSeen, lastSeen: c.lastSeen,
  };
}

export class RunRecorder {
  /** The newest checkpoint on disk. */
  lastCheckpoint: CheckpointInfo | null = null;
  private buffer: MetricRow[] = [];
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private lastSample: { at: number; tokens: number; steps: number; busyMs: number };
  private closed = false;

  constructor(readonly run: Run, private readonly opts: RecorderOptions) {
    const st = run.opts.engine.stats;
    this.lastSample = { at: Date.now(), tokens: st.tokens, steps: st.serverSteps, busyMs: st.busyMs };
    run.on('metric', (m: RunMetric) => this.onMetric(m));
    this.sampler = setInterval(() => this.sample(), THROUGHPUT_MS);
    this.sampler.unref();
  }

  private onMetric(m: RunMetric): void {
    if (this.closed) return;
    this.buffer.push(m as MetricRow);
    if (typeof m.clientId === 'string') this.dirty.add(m.clientId);
    if (m.kind === 'state' && (m.state === 'finished' || m.state === 'stopped') && this.sampler) {
      clearInterval(this.sampler);
      this.sampler = null;
    }
    if (m.kind === 'round') {
      const r = m as RunMetric & { round: number; participants: number; failures: string[]; closedBy: string; aggregated: boolean; reason?: string; openedAt?: number };
      this.opts.store.putRound(this.run.id, { round: r.round, participants: r.participants, failures: r.failures, closedBy: r.closedBy, aggregated: r.aggregated, reason: r.reason ?? null, openedAt: r.openedAt ?? null, at: r.at, checkpoint: null });
    }
    // Steps are many and cheap to lose in a crash; joins, rounds and state changes are written now
    // (a resume token must be on disk before the client can need it).
    if (m.kind !== 'step' || this.buffer.length >= FLUSH_ROWS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Server tokens/s and busy share since the last sample, while the run trains. */
  private sample(): void {
    const st = this.run.opts.engine.stats;
    const now = Date.now();
    const prev = this.lastSample;
    this.lastSample = { at: now, tokens: st.tokens, steps: st.serverSteps, busyMs: st.busyMs };
    if (this.run.state !== 'training' || now <= prev.at) return;
    const secs = (now - prev.at) / 1000;
    this.onMetric({
      kind: 'throughput', at: now, round: this.run.round, globalStep: this.run.globalStep, tokens: st.tokens - prev.tokens,
      tokensPerSec: (st.tokens - prev.tokens) / secs, serverStepsPerSec: (st.serverSteps - prev.steps) / secs, busy: Math.min(1, (st.busyMs - prev.busyMs) / (now - prev.at)),
    });
  }

  /** Writes waiting metrics, changed clients and the run's counters in one transaction. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const { store } = this.opts;
    const run = this.run;
    const metrics = this.buffer;
    const dirty = [...this.dirty].map((id) => run.clients.get(id)).filter((c): c is ClientRecord => c !== undefined);
    this.buffer = [];
    this.dirty.clear();
    const losses = [...run.clients.values()].map((c) => c.lastLoss).filter((x): x is number => x !== null);
    store.transaction(() => {
      store.addMetrics(run.id, metrics);
      if (dirty.length > 0) store.upsertClients(run.id, dirty.map(clientRow));
      store.updateRun(run.id, { status: run.state, round: run.round, globalStep: run.globalStep, lastLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null, at: Date.now() });
    });
  }

  /**
   * The after-aggregation stage that saves the run: the server's adapter and optimizer from the
   * compute worker (between two server steps; it also becomes the restore point after a compute
   * failure, with or without a data directory), then the checkpoint file with the run's counters,
   * average and client states as they were when the round closed.
   */
  readonly checkpointStage: AggregationStage = { name: 'checkpoint', run: (e) => this.checkpoint(e) };

  private async checkpoint({ round, states, globalStep, at, clients, average }: AggregatedEvent): Promise<void> {
    if (this.closed) return;
    const run = this.run;
    const dir = this.opts.checkpointDir;
    const write = this.chain.then(async () => {
      let s;
      try {
        s = await run.opts.engine.checkpoint();
      } catch (e) {
        this.opts.log.error({ run: run.id, round, err: e }, `server snapshot after round ${round} failed; the previous one stays the restore point`);
        return;
      }
      if (!dir) return;
      try {
        const state = { runId: run.id, round, nextRound: round + 1, globalStep, at, clients };
        const data: CheckpointData = { state: { ...state, engine: { serverSteps: s.stats.serverSteps, tokens: s.stats.tokens, ...(s.stats.forwards !== undefined ? { forwards: s.stats.forwards } : {}) } }, client: average, server: s.adapter, optimizer: s.optimizer, clientStates: states };
        const file = await writeCheckpoint(dir, data);
        this.lastCheckpoint = { round, file, at };
        this.opts.store.setRoundCheckpoint(run.id, round, file);
        this.opts.log.info({ run: run.id, round, file: join(dir, file) }, 'checkpoint written');
      } catch (e) {
        this.opts.log.error({ run: run.id, round, err: e }, `checkpoint after round ${round} failed; the previous one stays the resume point`);
      }
    });
    this.chain = write;
    await write;
  }

  /** Resolves when every checkpoint asked for so far is on disk. */
  idle(): Promise<void> {
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    this.flush();
    this.closed = true;
    await this.chain;
  }
}
