// Run settings: what an operator configures for one run. Architecture lives in the model's
// config.json; everything here is training, federation and transport policy.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Wire = Type.Union([Type.Literal('f32'), Type.Literal('f16'), Type.Literal('int8')]);
const Target = Type.Union(['c_attn', 'q', 'k', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((t) => Type.Literal(t)));

// Every number has both bounds: a value far outside what trains (clientLr 1e308) is a 400 that
// names the field, not a run that diverges in its first step.
export const RunSettingsSchema = Type.Object(
  {
    name: Type.String({ maxLength: 128, default: 'run' }),
    /** Cut layer k; 0 means the default, a quarter of the blocks. */
    cut: Type.Integer({ minimum: 0, maximum: 1024, default: 0 }),
    lora: Type.Object(
      {
        r: Type.Integer({ minimum: 1, maximum: 256, default: 4 }),
        alpha: Type.Number({ exclusiveMinimum: 0, maximum: 4096, default: 32 }),
        dropout: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.1 }),
        targets: Type.Array(Target, { minItems: 1, default: ['q', 'v'] }),
      },
      { additionalProperties: false, default: {} },
    ),
    clientLr: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 2e-4 }),
    serverLr: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 2e-4 }),
    /** Server warm-up steps, then linear decay to 0 over the run (SplitLoRA: 500). */
    serverWarmup: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 500 }),
    /** "linear": warm-up then linear decay (SplitLoRA's server); "constant": a fixed lr. */
    serverSchedule: Type.Union([Type.Literal('linear'), Type.Literal('constant')], { default: 'linear' }),
    batch: Type.Integer({ minimum: 1, maximum: 512, default: 8 }),
    /** Longest sequence a client may send (tokens per row). */
    seqLen: Type.Integer({ minimum: 2, maximum: 8192, default: 128 }),
    /** Local steps between aggregations (I). */
    interval: Type.Integer({ minimum: 1, maximum: 100_000 }),
    /** Aggregation rounds in the run; the run finishes after the last one. */
    rounds: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    minClients: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
    /** A client with no step for this long is left out of the round and told so. */
    stepDeadlineMs: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 60_000 }),
    wire: Wire,
    /**
     * How the clients' adapters become the next average: "fedavg" (example-weighted mean, as
     * SplitLoRA) trusts every client; "trimmed-mean" and "median" (coordinate-wise, unweighted)
     * resist a few clients that send wild values or claim huge shards.
     */
    aggregation: Type.Union([Type.Literal('fedavg'), Type.Literal('trimmed-mean'), Type.Literal('median')], { default: 'fedavg' }),
    /** trimmed-mean: the share of clients dropped at each end of every coordinate. */
    trim: Type.Number({ minimum: 0, exclusiveMaximum: 0.5, default: 0.2 }),
    /** Merge concurrent clients' activations into one server step. */
    batching: Type.Boolean({ default: true }),
    labelSmoothing: Type.Number({ minimum: 0, maximum: 1, default: 0.1 }),
    /**
     * Where the loss is computed. "server" (SplitLoRA): volunteers send target ids and the loss mask
     * with their activations. "client" (U-shaped split): volunteers also run ln_f and the tied head,
     * so no target, mask or loss leaves the page; a step takes two round trips.
     */
    labels: Type.Union([Type.Literal('server'), Type.Literal('client')], { default: 'server' }),
    /**
     * Cluster runs (serve --redis) only: how the server LoRA lives on the nodes. "averaged": each node
     * trains a replica on its own volunteers and the coordinator averages them at every aggregation
     * (SplitFed V1; scales compute). "single": every node forwards activations to the one node that
     * owns the server model (SplitLoRA-exact; one node's compute). A single server ignores it.
     */
    serverReplicas: Type.Union([Type.Literal('averaged'), Type.Literal('single')], { default: 'averaged' }),
    /** Defence: each volunteer clips every uploaded activation row (one position's d values) to this L2 norm. */
    actClip: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6 })),
    /** Defence: each volunteer adds Gaussian noise of this std to every uploaded activation, after clipping. */
    actNoise: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
    seed: Type.Integer({ minimum: -2_147_483_648, maximum: 4_294_967_295, default: 0 }),
    /** Held-out data file for evaluation (a path on the server). */
    evalData: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);

export type RunSettings = Static<typeof RunSettingsSchema>;

export const DEFAULT_SETTINGS: Partial<RunSettings> = { interval: 10, rounds: 10, wire: 'f16' };

/** Fills defaults and validates; throws an Error naming the first bad field. */
export function parseSettings(input: unknown): RunSettings {
  const merged = { ...DEFAULT_SETTINGS, ...(typeof input === 'object' && input ? input : {}) };
  const withDefaults = Value.Default(RunSettingsSchema, Value.Clone(merged));
  if (!Value.Check(RunSettingsSchema, withDefaults)) {
    const e = Value.Errors(RunSettingsSchema, withDefaults).First();
    throw new Error(`run settings${e?.path ?? ''}: ${e?.message ?? 'invalid'}`);
  }
  // Forwarding a U-shaped step would take two relayed round trips per step; not built.
  if (withDefaults.serverReplicas === 'single' && withDefaults.labels === 'client') {
    throw new Error('run settings/serverReplicas: "single" does not serve the U-shaped split (labels "client"); use labels "server" (the U-shaped split runs on a single server, without --redis)');
  }
  return withDefaults as RunSettings;
}
