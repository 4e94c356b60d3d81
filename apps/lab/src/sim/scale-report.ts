// bench-scale's arithmetic and report: what one setup (a single `serve`, or a coordinator with K
// nodes over Redis) measured over its steady rounds, turned into per-round and per-volunteer
// figures, the ratios against the baseline setup, a plain-text table and report.md. Pure functions.
import { formatTable } from '../table';

/** What the runner measured for one setup; "steady" is rounds 1 … R−2 (round 0 warms up, round R−1 closes the window). */
export interface SetupMeasurement {
  /** 0: one `splitlora serve` without Redis; K ≥ 1: `serve --redis` and K `splitlora node` processes. */
  nodes: number;
  volunteers: number;
  volunteersPerNode: number[];
  rounds: number;
  steadyRounds: number;
  /** Volunteer steps of the steady rounds, and the tokens they carried (rows × trimmed length). */
  steadySteps: number;
  steadyTokens: number;
  /** From every node's first step of round 1 to every node's first step of round R−1. */
  steadySeconds: number;
  /** Each steady round, opened → aggregated, as the coordinator recorded it (ms). */
  roundMs: number[];
  /** Each steady step as a volunteer saw it: client forward, server round trip, client backward (ms). */
  stepMs: number[];
  /** Redis traffic over the steady window (INFO stats); null without Redis. */
  redisBytes: { input: number; output: number } | null;
  /** Redis commands over the same window, by name (INFO commandstats); null without Redis. */
  redisCalls: Record<string, number> | null;
  /** CPU seconds (user + system, all threads) over the steady window, per process. */
  cpuSeconds: { coordinator: number; nodes: number[]; redis: number | null; volunteers: number };
  /** Start-up (processes, run creation, volunteers joining) and the whole setup (s). */
  startSeconds: number;
  wallSeconds: number;
}

export interface SetupRow {
  setup: string;
  nodes: number;
  volunteers: number;
  serverTokensPerSec: number;
  roundP50Ms: number;
  stepP50Ms: number;
  stepP99Ms: number;
  /** (Redis bytes in + out) / steady rounds / volunteers; null without Redis. */
  redisBytesPerRoundPerVolunteer: number | null;
  redisBytesPerRound: number | null;
  /** The coordinator's CPU per round (setup 0: the single server, which also computes every server step). */
  coordinatorCpuMsPerRound: number;
  /** All nodes together (0 for setup 0, whose server compute is in coordinatorCpuMsPerRound). */
  nodesCpuMsPerRound: number;
  /** Server-side CPU per volunteer step: the node processes' (setup 0: the server's) CPU / steps. */
  serverCpuMsPerStep: number;
  redisCpuMsPerRound: number | null;
  volunteersCpuMsPerRound: number;
}

/**
 * Commands between two commandstats readings, without the reader's own INFO calls; commands
 * that were not called in between are left out.
 */
export function callsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (d > 0 && name !== 'info') out[name] = d;
  }
  return out;
}

/** "publish 12.0, xadd 8.5" : calls per round, most first (at most `most`). */
export function callsPerRound(calls: Record<string, number>, rounds: number, most = 8): string {
  return Object.entries(calls).sort((a, b) => b[1] - a[1]).slice(0, most).map(([name, n]) => `${name} ${(n / rounds).toFixed(1)}`).join(', ');
}

/** The q-quantile by nearest rank (q in [0, 1]); NaN for no values. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function setupName(nodes: number): string {
  return nodes === 0 ? 'serve' : `cluster-${nodes}`;
}

export function setupLabel(nodes: number): string {
  return nodes === 0 ? 'one serve, no Redis' : `coordinator + ${nodes} node${nodes > 1 ? 's' : ''} over Redis`;
}

export function summarizeSetup(m: SetupMeasurement): SetupRow {
  if (m.steadyRounds < 1) throw new Error('bench-scale needs at least one measured round (--rounds 3 or more)');
  const perRound = (s: number) => (1000 * s) / m.steadyRounds;
  const nodesCpu = m.cpuSeconds.nodes.reduce((a, b) => a + b, 0);
  const serverCpu = m.nodes === 0 ? m.cpuSeconds.coordinator : nodesCpu;
  const redisTotal = m.redisBytes ? m.redisBytes.input + m.redisBytes.output : null;
  return {
    setup: setupName(m.nodes),
    nodes: m.nodes,
    volunteers: m.volunteers,
    serverTokensPerSec: m.steadyTokens / m.steadySeconds,
    roundP50Ms: quantile(m.roundMs, 0.5),
    stepP50Ms: quantile(m.stepMs, 0.5),
    stepP99Ms: quantile(m.stepMs, 0.99),
    redisBytesPerRound: redisTotal === null ? null : redisTotal / m.steadyRounds,
    redisBytesPerRoundPerVolunteer: redisTotal === null ? null : redisTotal / m.steadyRounds / m.volunteers,
    coordinatorCpuMsPerRound: perRound(m.cpuSeconds.coordinator),
    nodesCpuMsPerRound: perRound(nodesCpu),
    serverCpuMsPerStep: (1000 * serverCpu) / m.steadySteps,
    redisCpuMsPerRound: m.cpuSeconds.redis === null ? null : perRound(m.cpuSeconds.redis),
    volunteersCpuMsPerRound: perRound(m.cpuSeconds.volunteers),
  };
}

/**
 * Repeats of the same setups (a shared machine is noisy): per setup, in first-run order, the
 * median of every row figure (nearest rank; null where the setup has no Redis), and the run whose
 * tokens/s is that median, for the per-run details.
 */
export function medianRows(measurements: readonly SetupMeasurement[]): { rows: SetupRow[]; detail: SetupMeasurement[] } {
  const groups = new Map<number, SetupMeasurement[]>();
  for (const m of measurements) groups.set(m.nodes, [...(groups.get(m.nodes) ?? []), m]);
  const rows: SetupRow[] = [];
  const detail: SetupMeasurement[] = [];
  for (const runs of groups.values()) {
    const summaries = runs.map(summarizeSetup);
    const row = { ...summaries[0] };
    for (const key of Object.keys(row) as (keyof SetupRow)[]) {
      const xs = summaries.map((r) => r[key]);
      if (xs.every((x) => typeof x === 'number')) (row as Record<string, unknown>)[key] = quantile(xs as number[], 0.5);
    }
    rows.push(row);
    detail.push(runs[summaries.findIndex((r) => r.serverTokensPerSec === row.serverTokensPerSec)]);
  }
  return { rows, detail };
}

export interface Ratios {
  setup: string;
  tokensPerSec: number;
  roundP50: number;
  stepP50: number;
  coordinatorCpuPerRound: number;
}

/** Each row against the baseline row (the single serve when it ran): value / baseline value. */
export function ratiosTo(baseline: SetupRow, rows: readonly SetupRow[]): Ratios[] {
  return rows.map((r) => ({
    setup: r.setup,
    tokensPerSec: r.serverTokensPerSec / baseline.serverTokensPerSec,
    roundP50: r.roundP50Ms / baseline.roundP50Ms,
    stepP50: r.stepP50Ms / baseline.stepP50Ms,
    coordinatorCpuPerRound: r.coordinatorCpuMsPerRound / baseline.coordinatorCpuMsPerRound,
  }));
}

/**
 * How many volunteers one single-threaded node serves when each volunteer takes a step every
 * `secondsPerVolunteerStep`: the node's CPU budget per second over its CPU per step.
 */
export function volunteersPerNode(serverCpuMsPerStep: number, secondsPerVolunteerStep: number): number {
  return Math.floor((1000 * secondsPerVolunteerStep) / serverCpuMsPerStep);
}

export interface ScaleResult {
  model: { id: string; layers: number; dModel: number; cut: number };
  settings: { volunteers: number; steps: number; rounds: number; interval: number; batch: number; seqLen: number; wire: string };
  /** One step every this many seconds per volunteer, for the volunteers-per-node estimate. */
  pace: number;
  /** Runs of each setup; rows are their medians. */
  repeats: number;
  rows: SetupRow[];
  ratios: Ratios[];
  baseline: string;
  /** Per row, the run with the median tokens/s (the details table). */
  detail: SetupMeasurement[];
  /** Every run, in the order they ran. */
  measurements: SetupMeasurement[];
  machine: { cpus: number; cpuModel: string };
  command: string;
  startedAt: string;
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const kb = (x: number | null) => (x === null ? '–' : (x / 1000).toFixed(1));

/** The measured table, one line per setup (plain text, also the markdown table's content). */
export function scaleTable(rows: readonly SetupRow[], ratios: readonly Ratios[]): { header: string[]; cells: (string | number)[][] } {
  const header = ['setup', 'nodes', 'tok/s', '×tok/s', 'round p50 ms', '×round', 'step p50 ms', 'step p99 ms', 'Redis KB/round/vol', 'coord CPU ms/round', '×coord CPU', 'nodes CPU ms/round', 'server CPU ms/step'];
  const cells = rows.map((r, i) => [
    r.setup, r.nodes, f1(r.serverTokensPerSec), f2(ratios[i].tokensPerSec), f0(r.roundP50Ms), f2(ratios[i].roundP50), f0(r.stepP50Ms), f0(r.stepP99Ms),
    kb(r.redisBytesPerRoundPerVolunteer), f0(r.coordinatorCpuMsPerRound), f2(ratios[i].coordinatorCpuPerRound), f0(r.nodesCpuMsPerRound), f0(r.serverCpuMsPerStep),
  ]);
  return { header, cells };
}

export function scaleText(result: ScaleResult): string {
  const { header, cells } = scaleTable(result.rows, result.ratios);
  return formatTable(header, cells);
}

export function scaleMarkdown(result: ScaleResult): string {
  const { model: m, settings: s } = result;
  const { header, cells } = scaleTable(result.rows, result.ratios);
  const md = (r: (string | number)[]) => `| ${r.join(' | ')} |`;
  const lines = [
    '# bench-scale: one serve vs a coordinator with nodes over Redis',
    '',
    `Command: \`${result.command}\``,
    `Started ${result.startedAt} on ${result.machine.cpus} × ${result.machine.cpuModel}. Model ${m.id}: ${m.layers} layers × d=${m.dModel}, cut ${m.cut}.`,
    `${s.volunteers} volunteers × ${s.steps} steps (${s.rounds} rounds of ${s.interval}), batch ${s.batch}, seq-len ≤ ${s.seqLen}, wire ${s.wire}; every process computes on wasm (single-threaded). Ratios (×) are against ${result.baseline}.${result.repeats > 1 ? ` Each setup ran ${result.repeats} times, interleaved; the table gives medians.` : ''}`,
    '',
    md(header),
    md(header.map((h, i) => (i <= 1 ? '---' : '---:'))),
    ...cells.map(md),
    '',
    'Measured rounds 1 … R−2 only: the window opens when every node has answered a step of round 1 (so round 0\'s averaging is done)',
    'and closes at the same point of round R−1. tok/s: tokens the server side processed per second (all volunteers\' steps,',
    'rows × trimmed length). Round: opened → aggregated on the coordinator. Step: what a volunteer waits for one step (its own forward,',
    'the server round trip, its backward). Redis: total_net_input_bytes + total_net_output_bytes (INFO stats) over the window, per round',
    'and volunteer. CPU: user + system time of each process (all threads, /proc); for `serve` the coordinator column is the one',
    'server, which also computes every server step. Server CPU per step: the node processes\' (or the single server\'s) CPU per volunteer step.',
    '',
    '| setup | volunteers per node | Redis in / out KB per round | Redis commands per round | Redis CPU ms/round | volunteers\' process CPU ms/round | start-up s | wall s |',
    '|---|---|---:|---|---:|---:|---:|---:|',
    ...result.rows.map((r, i) => {
      const ms = result.detail[i];
      const io = ms.redisBytes ? `${kb(ms.redisBytes.input / ms.steadyRounds)} / ${kb(ms.redisBytes.output / ms.steadyRounds)}` : '–';
      const calls = ms.redisCalls ? callsPerRound(ms.redisCalls, ms.steadyRounds) : '–';
      return md([`${r.setup} (${setupLabel(r.nodes)})`, ms.volunteersPerNode.join(' + ') || String(r.volunteers), io, calls, r.redisCpuMsPerRound === null ? '–' : f0(r.redisCpuMsPerRound), f0(r.volunteersCpuMsPerRound), f1(ms.startSeconds), f1(ms.wallSeconds)]);
    }),
    '',
    ...result.rows.map((r) => `- ${r.setup}: at one step per ${result.pace} s per volunteer, one single-threaded ${r.nodes === 0 ? 'server' : 'node'} of this machine serves about ${volunteersPerNode(r.serverCpuMsPerStep, result.pace)} volunteers (server CPU ${f0(r.serverCpuMsPerStep)} ms per step).`),
    '',
  ];
  return lines.join('\n');
}
