// Keeps the runs' server parts alive across compute failures. When the training compute service
// fails, the live runs are held (paused, reason "compute"), the service restarts, each server
// part is rebuilt from its run's restore point (its state at the last aggregation, the
// checkpoint's server half) and the round restarts from there. Three failures within a minute
// stop the retries: health then stays "failed" and the runs stay paused, with a log line saying so.
import type { FastifyBaseLogger } from 'fastify';
import type { TensorRecord } from '@splitlora/model';
import { WorkerServerCompute } from './compute/compute-worker';
import type { ServerPartSpec } from './compute/server-compute';
import type { ComputeService } from './compute/service';
import { ServerEngine } from './engine';
import type { Run } from './run';

const CRASH_LOOP_WINDOW_MS = 60_000;
const CRASH_LOOP_FAILURES = 3;

export class ComputeSupervisor {
  /** Where each run's server part sits in the compute service, and how to rebuild it. */
  private parts = new Map<string, { run: Run; key: string; spec: ServerPartSpec }>();
  private failures: number[] = [];
  private recovering: Promise<void> | null = null;

  constructor(readonly compute: ComputeService, private readonly log: FastifyBaseLogger) {
    compute.on('failed', (reason: string) => {
      this.recovering = this.recover(reason).finally(() => { this.recovering = null; });
    });
  }

  /** Opens a run's server part on the compute service (a ServerEngine queues its steps). */
  async open(key: string, spec: ServerPartSpec, opts: { batching: boolean }): Promise<ServerEngine> {
    return new ServerEngine(await WorkerServerCompute.open(this.compute, key, spec), { batching: opts.batching, maxGroup: 16 });
  }

  /** Watches a run's server part from now on. */
  track(run: Run, key: string, spec: ServerPartSpec): void {
    this.parts.set(run.id, { run, key, spec });
  }

  specOf(runId: string): ServerPartSpec | undefined {
    return this.parts.get(runId)?.spec;
  }

  private async recover(reason: string): Promise<void> {
    const live = [...this.parts.values()].filter((p) => p.run.active);
    for (const { run } of live) {
      run.holdForCompute(reason);
      run.opts.engine.failAll(reason);
    }
    const ids = live.map((p) => p.run.id);
    this.log.error({ reason, runs: ids }, `compute worker failed (${reason}); ${ids.length ? `run ${ids.join(', ')} paused, ` : ''}restarting it from the last checkpoint`);
    const now = Date.now();
    this.failures = [...this.failures.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    if (this.failures.length > CRASH_LOOP_FAILURES) {
      this.log.error({ reason }, 'compute worker failed more than 3 times in a minute; not restarting it. Check the backend (--backend) and memory, then restart the server; the runs resume from their checkpoints');
      return;
    }
    try {
      await this.compute.start();
      for (const { run, key, spec } of live) {
        const engine = run.opts.engine;
        const from = engine.restorePoint ?? undefined;
        await engine.rewind(await WorkerServerCompute.open(this.compute, key, { ...spec, from }));
        run.resumeAfterCompute();
        this.log.warn({ run: run.id, round: run.round, globalStep: run.globalStep }, `compute worker restarted (backend ${this.compute.health.backend}); run ${run.id} continues from its checkpoint at round ${run.round}`);
      }
    } catch (e) {
      this.log.error({ err: e }, `compute worker could not be restarted: ${(e as Error).message}`);
    }
  }

  /** Resolves when no recovery is under way (tests). */
  async settled(): Promise<void> {
    while (this.recovering) await this.recovering;
  }

  /** The server adapter of a live run now, or at its restore point while the compute service is down. */
  async serverAdapter(run: Run): Promise<TensorRecord> {
    const engine = run.opts.engine;
    try {
      return (await engine.snapshot()).adapter;
    } catch (e) {
      if (!engine.restorePoint) throw e;
      return engine.restorePoint.adapter;
    }
  }
}
