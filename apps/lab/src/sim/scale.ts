// bench-scale's runner: the same run on one `splitlora serve` (no Redis) and on a coordinator
// (`serve --redis`) with K `splitlora node` processes over a real redis-server, each process
// computing on wasm (single-threaded). Volunteers are the Node client (packages/client) in this
// process, spread round-robin over the nodes. Over the measured rounds (1 … R−2) it reads each
// process's CPU time from /proc, Redis's own traffic and command counters, the coordinator's
// round times and the volunteers' step times; scale-report.ts turns them into the table.
//
// The window opens when every node has answered a step of round 1 and closes when every node has
// answered one of round R−1. A node computes a round's first step only after it has loaded the
// previous round's server average, so each boundary falls after that round's uploads, aggregate,
// replica collection and average: the window holds exactly rounds 1 … R−2 of all of it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Volunteer, downloadClientModel, type DownloadedModel } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { selectNodeBackend } from '@splitlora/backend/node';
import { toWeights, type GPT2Config } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { freePort } from '../free-port';
import { RedisServer, type RedisCounters } from '../redis-server';
import { io as connect } from 'socket.io-client';
import { NO_PROGRESS, type Experiment, type Progress } from '../experiment';
import { callsBetween, medianRows, ratiosTo, scaleMarkdown, scaleText, setupName, summarizeSetup, type ScaleResult, type SetupMeasurement } from './scale-report';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export interface ScaleOptions {
  /** A model directory (config.json + model.safetensors), given to every process. */
  modelDir: string;
  /** Engine flags for every spawned serve/node process (default: --engine tfjs). */
  engineArgs?: string[];
  volunteers: number;
  /** Local steps per volunteer; rounds × interval. */
  steps: number;
  /** At least 3: round 0 warms up, rounds 1 … R−2 are measured, round R−1 closes the window. */
  rounds: number;
  batch: number;
  seqLen: number;
  /** Client blocks (0: the server's default, a quarter of the blocks). */
  cut: number;
  wire: 'f32' | 'f16' | 'int8';
  seed: number;
  /** Node counts to run, in order; 0 is the single serve without Redis. */
  setups: number[];
  /** Fail a setup when no volunteer step comes for this long. */
  stallMs: number;
}

export interface ScaleHooks {
  log?: (message: string) => void;
  /** Each volunteer step of a setup (done of total). */
  onStep?: (setup: string, done: number, total: number) => void;
}

// ---- processes -----------------------------------------------------------------------------

let clockTicks: number | null = null;

/** USER_HZ, the unit of /proc's CPU times (100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds of a process, all its threads (Linux /proc/PID/stat, fields 14 and 15). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => {
    throw new Error(`bench-scale reads CPU times from /proc (Linux); /proc/${pid}/stat is not readable`);
  });
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces; field 3 is fields[0]
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** A `splitlora …` child process from this checkout, its output kept for error messages. */
class CliProcess {
  private output = '';
  private constructor(readonly name: string, private readonly proc: ChildProcess) {
    const keep = (d: Buffer) => { this.output = (this.output + String(d)).slice(-4000); };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
  }

  static spawn(name: string, args: string[]): CliProcess {
    return new CliProcess(name, spawn(process.execPath, ['bin/splitlora.mjs', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  cpuSeconds(): Promise<number> {
    return processCpuSeconds(this.pid);
  }

  /** Polls `url` until it answers 200 with JSON that `ready` accepts. */
  async waitReady(url: string, ready: (body: Record<string, unknown>) => boolean, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`${this.name} exited before it was ready:\n${this.output}`);
      const body = await fetch(url).then((r) => (r.ok ? (r.json() as Promise<Record<string, unknown>>) : null), () => null);
      if (body && ready(body)) return;
      if (Date.now() - t0 > timeoutMs) throw new Error(`${this.name} was not ready within ${timeoutMs / 1000} s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGTERM (it writes what is waiting and closes), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- one setup -----------------------------------------------------------------------------

interface Sample {
  at: number;
  coordinator: number;
  nodes: number[];
  redisCpu: number | null;
  volunteers: number;
  redis: RedisCounters | null;
}

/** Run settings for the bench: long deadlines (a loaded 2-core machine straggles), no warm-up. */
export function scaleRunSettings(o: ScaleOptions, nodes: number): Record<string, unknown> {
  return {
    name: `bench-scale ${setupName(nodes)}`, cut: o.cut, batch: o.batch, seqLen: o.seqLen, interval: o.steps / o.rounds, rounds: o.rounds,
    minClients: o.volunteers, wire: o.wire, serverWarmup: 0, stepDeadlineMs: 30 * 60_000, seed: o.seed,
  };
}

/** One setup from start to teardown: processes, run, volunteers, the steady-window samples. */
export async function runScaleSetup(nodes: number, o: ScaleOptions, hooks: ScaleHooks = {}): Promise<SetupMeasurement & { cut: number }> {
  const log = hooks.log ?? (() => {});
  const name = setupName(nodes);
  const t0 = performance.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'splitlora-bench-scale-'));
  const token = randomBytes(12).toString('hex');
  const limits = ['--max-batch', String(o.batch), '--max-seq-len', String(o.seqLen)];
  let redis: RedisServer | null = null;
  let coordinator: CliProcess | null = null;
  const nodeProcs: CliProcess[] = [];
  const volunteers: Volunteer[] = [];
  try {
    if (nodes > 0) redis = await RedisServer.start();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    log(`bench-scale ${name}: starting ${nodes === 0 ? 'one serve' : `redis-server, the coordinator and ${nodes} node${nodes > 1 ? 's' : ''}`} on ${o.modelDir}`);
    coordinator = CliProcess.spawn(nodes === 0 ? 'serve' : 'coordinator', ['serve', '--port', String(port), '--model', o.modelDir, '--backend', 'wasm', ...(o.engineArgs ?? ['--engine', 'tfjs']), '--token', token, '--data-dir', dataDir, '--no-auto-run', ...limits, ...(redis ? ['--redis', redis.url] : [])]);
    const nodeUrls: string[] = [];
    for (let i = 0; i < nodes; i++) {
      const p = await freePort();
      nodeUrls.push(`http://127.0.0.1:${p}`);
      nodeProcs.push(CliProcess.spawn(`node-${i}`, ['node', '--redis', redis!.url, '--port', String(p), '--model', o.modelDir, '--backend', 'wasm', ...(o.engineArgs ?? ['--engine', 'tfjs']), '--id', `node-${i}`, ...limits]));
    }
    const startTimeout = 300_000; // GPT-2 S: each process loads 249 MB and starts a wasm worker on a shared CPU
    await Promise.all([
      coordinator.waitReady(`${base}/api/health`, (h) => h.ok === true, startTimeout),
      ...nodeProcs.map((n, i) => n.waitReady(`${nodeUrls[i]}/api/health`, (h) => h.ok === true, startTimeout)),
    ]);
    const created = await fetch(`${base}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(scaleRunSettings(o, nodes)) });
    if (created.status !== 201) throw new Error(`bench-scale ${name}: creating the run failed: ${created.status} ${await created.text()}`);
    const run = (await created.json()) as { id: string; cut: number };

    // Every volunteer's client part is the same file: download it once, give each its own tensors.
    let model: Promise<DownloadedModel> | null = null;
    const text = syntheticE2E({ n: Math.max(64, 16 * o.volunteers), seed: o.seed + 7 });
    const data = encodeExamples(text);
    const shards = partition(text, o.volunteers, 'iid', o.seed).map((idx) => idx.map((i) => data[i]));
    const total = o.volunteers * o.steps;
    const steady = { steps: 0, tokens: 0, stepMs: [] as number[] };
    const aggregated = new Array<number>(o.volunteers).fill(-1);
    const lastMeasured = o.rounds - 2;
    // Per round, the nodes (volunteer c is on node c % K; the single serve is node 0) that answered a step of it.
    const answered = Array.from({ length: o.rounds }, () => new Set<number>());
    const nodeCount = Math.max(1, Math.min(nodes, o.volunteers)); // nodes with a volunteer
    const errors: string[] = [];
    let done = 0;
    let lastStep = Date.now();
    let startedAt = 0;
    let start: Promise<Sample> | null = null;
    let end: Promise<Sample> | null = null;
    const sample = (): Promise<Sample> => {
      const p = readSample();
      p.catch(() => {}); // awaited after the run; no unhandled rejection meanwhile
      return p;
    };
    const readSample = async (): Promise<Sample> => {
      const at = performance.now();
      const own = process.cpuUsage();
      // Redis's counters first and all reads at once: the run goes on while they are read, so the
      // later a counter is read, the more of the next round's traffic slips into the window's edge.
      const [counters, redisCpu, coord, ...nodeCpu] = await Promise.all([
        redis ? redis.counters() : null, redis?.pid ? processCpuSeconds(redis.pid) : null, ...[coordinator!, ...nodeProcs].map((p) => p.cpuSeconds()),
      ]);
      return { at, coordinator: coord as number, nodes: nodeCpu as number[], volunteers: (own.user + own.system) / 1e6, redisCpu: redisCpu as number | null, redis: counters as RedisCounters | null };
    };
    let finished!: () => void;
    const allFinal = new Promise<void>((resolve) => { finished = resolve; });
    for (let c = 0; c < o.volunteers; c++) {
      const url = nodes === 0 ? base : nodeUrls[c % nodes];
      const v = new Volunteer({
        socket: connect(url, { parser: msgpackParser, transports: ['websocket'], reconnection: false }),
        examples: shards[c], backend: 'wasm', userAgent: `bench-scale/${c}`, seed: o.seed * 1000 + c, stepTimeoutMs: 30 * 60_000,
        loadModel: async () => {
          model ??= downloadClientModel(base);
          const m = await model;
          return { config: m.config, weights: toWeights(m.weights) }; // the volunteer frees them on stop
        },
        onEvent: (e) => {
          if (e.type === 'step') {
            lastStep = Date.now();
            if (startedAt === 0) startedAt = performance.now();
            const round = aggregated[c] + 1; // a step after the aggregate of round r belongs to round r + 1
            if (round >= 1 && round <= lastMeasured) {
              steady.steps += 1;
              steady.tokens += e.tokens;
              steady.stepMs.push(e.ms);
            }
            answered[round]?.add(c % nodeCount);
            if (round === 1 && answered[1].size === nodeCount) start ??= sample();
            if (round === o.rounds - 1 && answered[round].size === nodeCount) end ??= sample();
            hooks.onStep?.(name, ++done, total);
          } else if (e.type === 'aggregate') {
            aggregated[c] = e.round;
            if (aggregated.every((r) => r === o.rounds - 1)) finished();
            if (aggregated.every((r) => r >= e.round) && e.round < o.rounds - 1) log(`bench-scale ${name}: round ${e.round + 1}/${o.rounds} aggregated (${done}/${total} steps, ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
          } else if (e.type === 'error') errors.push(`volunteer ${c}: ${e.code}: ${e.message}`);
          else if (e.type === 'log' && e.message.startsWith('error')) errors.push(`volunteer ${c}: ${e.message}`);
        },
      });
      volunteers.push(v);
      v.start();
    }
    let stalled: NodeJS.Timeout | null = null;
    await Promise.race([
      allFinal,
      new Promise<never>((_, reject) => {
        stalled = setInterval(() => {
          if (Date.now() - lastStep > o.stallMs) reject(new Error(`bench-scale ${name}: no volunteer step for ${o.stallMs / 1000} s (${done}/${total} steps): ${errors.slice(-3).join('; ') || 'no volunteer reported an error'}`));
        }, 1000);
      }),
    ]).finally(() => clearInterval(stalled!));
    // (Set in the volunteers' callbacks, which the compiler does not follow.)
    const [opened, closed] = [start as Promise<Sample> | null, end as Promise<Sample> | null];
    if (!opened || !closed) throw new Error(`bench-scale ${name}: the run finished before the measured window closed (--rounds ${o.rounds})`);
    const [s0, s1] = await Promise.all([opened, closed]);
    const rounds = (await (await fetch(`${base}/api/runs/${run.id}/rounds`)).json()) as { rounds: { round: number; openedAt: number | null; at: number }[] };
    const roundMs = rounds.rounds.filter((r) => r.round >= 1 && r.round <= lastMeasured && r.openedAt !== null).map((r) => r.at - r.openedAt!);
    const volunteersPerNode = nodes === 0 ? [o.volunteers] : Array.from({ length: nodes }, (_, i) => Math.ceil((o.volunteers - i) / nodes));
    return {
      nodes, volunteers: o.volunteers, volunteersPerNode, rounds: o.rounds, steadyRounds: lastMeasured,
      steadySteps: steady.steps, steadyTokens: steady.tokens, steadySeconds: (s1.at - s0.at) / 1000, roundMs, stepMs: steady.stepMs,
      redisBytes: s0.redis && s1.redis ? { input: s1.redis.input - s0.redis.input, output: s1.redis.output - s0.redis.output } : null,
      redisCalls: s0.redis && s1.redis ? callsBetween(s0.redis.calls, s1.redis.calls) : null,
      cpuSeconds: {
        coordinator: s1.coordinator - s0.coordinator, nodes: s1.nodes.map((x, i) => x - s0.nodes[i]),
        redis: s0.redisCpu !== null && s1.redisCpu !== null ? s1.redisCpu - s0.redisCpu : null, volunteers: s1.volunteers - s0.volunteers,
      },
      startSeconds: ((startedAt || performance.now()) - t0) / 1000, wallSeconds: (performance.now() - t0) / 1000, cut: run.cut,
    };
  } finally {
    for (const v of volunteers) v.stop();
    await Promise.all(nodeProcs.map((n) => n.stop()));
    await coordinator?.stop();
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

// ---- the experiment --------------------------------------------------------------------------

export interface ScaleExperimentOptions extends ScaleOptions {
  /** The model's name in the report, and its shape. */
  modelId: string;
  config: GPT2Config;
  /** Runs of each setup, interleaved; the report takes medians. */
  repeat: number;
  /** Seconds per volunteer step behind the volunteers-per-node estimate. */
  pace: number;
  /** The command line, for the report. */
  command: string;
}

export const benchScale: Experiment<ScaleExperimentOptions, ScaleResult> = {
  name: 'bench-scale',
  description: 'one serve (no Redis) vs a coordinator with 1 and 2 node processes over a real redis-server, every process single-threaded wasm: server tokens/s, round and step times, Redis bytes per round per volunteer, coordinator CPU per round, ratios vs the single serve; writes report.md and scale.json',
  defaults: { volunteers: 4, steps: 16, rounds: 4, batch: 4, seqLen: 64, wire: 'f16', setups: [0, 1, 2], pace: 10, repeat: 1, seed: 0, stallMs: 600_000 },
  async run(o, hooks) {
    await selectNodeBackend('wasm', hooks.log); // the volunteers, like every process, compute single-threaded
    const startedAt = new Date().toISOString();
    const measurements: SetupMeasurement[] = [];
    let cut = o.cut;
    for (const nodes of Array.from({ length: o.repeat }, () => o.setups).flat()) {
      // Log lines wait while a setup's steps run (they would break its progress bar).
      let bar: Progress | null = null;
      const m = await runScaleSetup(nodes, o, {
        log: (msg) => { if (!bar) hooks.log(msg); },
        onStep: (setup, done, total) => {
          bar ??= hooks.progress?.(`bench-scale ${setup}`, total) ?? NO_PROGRESS;
          bar.update(done);
        },
      });
      (bar as Progress | null)?.stop();
      cut = m.cut;
      measurements.push(m);
      const row = summarizeSetup(m);
      hooks.log(`bench-scale ${setupName(nodes)}: ${row.serverTokensPerSec.toFixed(1)} tok/s, round p50 ${Math.round(row.roundP50Ms)} ms, coordinator ${Math.round(row.coordinatorCpuMsPerRound)} ms CPU/round (${m.wallSeconds.toFixed(0)} s)`);
    }
    const { rows, detail } = medianRows(measurements);
    const baseIndex = Math.max(0, rows.findIndex((r) => r.nodes === 0));
    return {
      model: { id: o.modelId, layers: o.config.nLayer, dModel: o.config.nEmbd, cut },
      settings: { volunteers: o.volunteers, steps: o.steps, rounds: o.rounds, interval: o.steps / o.rounds, batch: o.batch, seqLen: o.seqLen, wire: o.wire },
      pace: o.pace, repeats: o.repeat, rows, ratios: ratiosTo(rows[baseIndex], rows), baseline: rows[baseIndex].setup, detail, measurements,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' }, command: o.command, startedAt,
    };
  },
  /** Writes report.md and scale.json; the text is the table. */
  async report(result, dir) {
    if (!dir) throw new Error('bench-scale: the report needs a folder');
    await mkdir(dir, { recursive: true });
    const files = [join(dir, 'report.md'), join(dir, 'scale.json')];
    await writeFile(files[0], scaleMarkdown(result));
    await writeFile(files[1], JSON.stringify(result, null, 2) + '\n');
    return { json: result, text: scaleText(result), files };
  },
};
