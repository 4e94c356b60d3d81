// Versioned message schemas. The socket.io event name is the message name; the payload is one
// object whose `v` is PROTOCOL_VERSION. Every payload that crosses the wire goes through
// `validate(name, payload)` (schema), and activations/adapters also through checks.ts (shapes,
// finiteness, sizes). Objects are closed: an unknown field is an E_SCHEMA error, so a misspelt
// field fails loudly instead of being ignored.
//
// Flow: client `hello` → server `welcome`; then per step client `activations` → server
// `gradient`; every `interval` local steps server `aggregate-request` → client `adapter` →
// server `aggregate` to all participants (or `excluded` to a straggler). `run-state` and
// `status` are informational; `error` carries a ProtocolError's code and message.
// With labels "client" (the U-shaped split) a step is client `front` → server `top` → client
// `top-gradient` → server `front-gradient` instead of activations → gradient.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ERROR_CODE_LIST, ProtocolError } from './errors';
import { TFloat32Array, TInt32Array, TInt8Array, TUint16Array } from './typed-arrays';
import { WIRE_FORMATS } from './wire';

export const PROTOCOL_VERSION = 1;

const V = Type.Integer({ description: 'protocol version, PROTOCOL_VERSION' });
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Count = Type.Integer({ minimum: 0 });
const Positive = Type.Integer({ minimum: 1 });
const Shape = Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 8 });
const closed = { additionalProperties: false } as const;

export const WireFormatSchema = Type.Union(WIRE_FORMATS.map((f) => Type.Literal(f)));

/** Mirrors wire.ts's WireTensor. int8 carries one float32 scale per row (last dimension). */
export const WireTensorSchema = Type.Union([
  Type.Object({ fmt: Type.Literal('f32'), shape: Shape, data: TFloat32Array() }, closed),
  Type.Object({ fmt: Type.Literal('f16'), shape: Shape, data: TUint16Array() }, closed),
  Type.Object({ fmt: Type.Literal('int8'), shape: Shape, data: TInt8Array(), scale: TFloat32Array() }, closed),
]);

export const HostTensorSchema = Type.Object({ shape: Shape, data: TFloat32Array() }, closed);
/** Adapter tensors by name, e.g. "h.0.q.lora_A" [d, r]. Names: 1–128 of [A-Za-z0-9_.:/-]. */
export const TensorRecordSchema = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:/-]{1,128}$' }), HostTensorSchema, {
  additionalProperties: false,
});

/** The part of the run configuration a client needs to train. */
export const RunConfigSchema = Type.Object(
  {
    modelId: Type.String({ minLength: 1, maxLength: 128, description: 'e.g. "gpt2" or a test model id' }),
    dModel: Positive,
    cut: Positive, // the client runs embeddings + blocks [0, cut)
    lora: Type.Object(
      {
        r: Positive,
        alpha: Type.Number({ exclusiveMinimum: 0 }),
        dropout: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
        targets: Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 }), // e.g. ["q", "v"]
      },
      closed,
    ),
    batch: Positive,
    seqLen: Positive, // the longest sequence allowed (batches are trimmed to their longest row)
    interval: Positive, // local steps between aggregations
    wire: Type.Object({ acts: WireFormatSchema, grad: WireFormatSchema }, closed),
    lr: Type.Number({ exclusiveMinimum: 0 }),
    seed: Type.Integer(), // LoRA init seed, so every client starts from the same A
    // "client": the U-shaped split. The client also runs ln_f, the tied head and the loss, and steps
    // with front → top → top-gradient → front-gradient; absent means "server" (SplitLoRA).
    labels: Type.Optional(Type.Union([Type.Literal('server'), Type.Literal('client')])),
    smoothing: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })), // label smoothing of the loss, when the client computes it
    actClip: Type.Optional(Type.Number({ exclusiveMinimum: 0 })), // defence: clip each uploaded activation row to this L2 norm
    actNoise: Type.Optional(Type.Number({ minimum: 0 })), // defence: then add N(0, actNoise²) to every element
  },
  closed,
);

/**
 * A volunteer's own training state at an aggregation: what the server checkpoints for it, so a
 * run resumed after a crash continues each client exactly where the checkpoint left it. It holds
 * no text: only counters, the data-order cursor and AdamW's moments (gradient averages, which
 * say no more about the data than the adapter uploaded beside them).
 */
export const ClientStateSchema = Type.Object(
  {
    step: Count, // local steps taken so far; seeds the client's LoRA dropout masks
    optimizer: Type.Object({ step: Count, m: TensorRecordSchema, v: TensorRecordSchema }, closed), // AdamW.exportState
    dataOrder: Type.Object(
      {
        epoch: Count,
        cursor: Count,
        seed: Type.Integer(),
        examples: Count, // how many examples the order is over
        fingerprint: Type.String({ maxLength: 32 }), // of the local data, so another file is never resumed into
      },
      closed,
    ),
  },
  closed,
);

// ---- client → server -----------------------------------------------------------------------

export const HelloSchema = Type.Object(
  {
    v: V,
    clientId: Type.Optional(Id), // set when reconnecting, together with resumeToken
    resumeToken: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    backend: Type.String({ maxLength: 64 }), // tfjs backend in use: "webgpu", "webgl", "wasm", ...
    userAgent: Type.String({ maxLength: 512 }),
    examples: Count, // training examples this client holds (its FedAvg weight)
    wireFormats: Type.Array(WireFormatSchema, { minItems: 1, maxItems: WIRE_FORMATS.length }),
  },
  closed,
);

export const ActivationsSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // the client's local step; echoed in `gradient`
    round: Count, // the aggregation round the client is in
    batch: Positive,
    seqLen: Positive,
    acts: WireTensorSchema, // [batch, seqLen, dModel]
    targets: TInt32Array(), // [batch·seqLen] next-token ids
    mask: Type.Union([TFloat32Array(), Type.Uint8Array()]), // [batch·seqLen] 1 where the loss counts
  },
  closed,
);

// U-shaped split (run setting labels: "client"): one step is two round trips, and neither
// direction carries target ids, a loss mask or a loss value.

/** Round trip 1, up: the client's cut activations h_k, like `activations` without targets or mask. */
export const FrontSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // the client's local step; echoed in `top` and `front-gradient`
    round: Count,
    batch: Positive,
    seqLen: Positive,
    acts: WireTensorSchema, // [batch, seqLen, dModel]
  },
  closed,
);

/** Round trip 2, up: ∂loss/∂h_L, which the client computed from `top` with its own labels. */
export const TopGradientSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // the step of the `front` it answers
    grad: WireTensorSchema, // [batch, seqLen, dModel]
  },
  closed,
);

export const AdapterSchema = Type.Object(
  {
    v: V,
    runId: Id,
    round: Count, // the round named by `aggregate-request`
    examples: Count, // FedAvg weight
    localSteps: Type.Optional(Count), // steps taken since the last aggregate
    tensors: TensorRecordSchema,
    state: Type.Optional(ClientStateSchema), // checkpointed by the server, returned on resume
  },
  closed,
);

const Stat = Type.Optional(Type.Number({ minimum: 0 }));
export const StatusSchema = Type.Object(
  {
    v: V,
    runId: Type.Optional(Id),
    step: Type.Optional(Count),
    loss: Stat,
    tokensPerSec: Stat,
    stepMs: Stat, // wall time of the last local step
    memoryMB: Stat,
    note: Type.Optional(Type.String({ maxLength: 256 })),
  },
  closed,
);

// ---- server → client -----------------------------------------------------------------------

export const WelcomeSchema = Type.Object(
  {
    v: V,
    clientId: Id,
    resumeToken: Type.String({ minLength: 1, maxLength: 128 }), // secret: proves this clientId on reconnect
    resumed: Type.Boolean(), // true when hello's clientId/resumeToken were accepted
    runId: Id,
    round: Count, // the current aggregation round
    config: RunConfigSchema,
    adapter: Type.Optional(Type.Object({ round: Count, tensors: TensorRecordSchema }, closed)), // latest average
    // This client's own state from the aggregation that made `adapter`, if it took part in it
    // (e.g. after a server restart): continue from it rather than from where it stopped.
    state: Type.Optional(ClientStateSchema),
  },
  closed,
);

export const GradientSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // echoes activations.step
    grad: WireTensorSchema, // ∂loss/∂acts, [batch, seqLen, dModel]
    loss: Type.Number(), // the server's loss for this batch (finite: NaN/Inf fail the schema)
  },
  closed,
);

/** Round trip 1, down: h_L, the server blocks' output before ln_f. */
export const TopSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // echoes front.step
    top: WireTensorSchema, // [batch, seqLen, dModel]
  },
  closed,
);

/** Round trip 2, down: ∂loss/∂h_k, after the server stepped its adapter. No loss: the server has none. */
export const FrontGradientSchema = Type.Object(
  {
    v: V,
    runId: Id,
    step: Count, // echoes top-gradient.step
    grad: WireTensorSchema, // [batch, seqLen, dModel]
  },
  closed,
);

export const AggregateRequestSchema = Type.Object(
  { v: V, runId: Id, round: Count, deadlineMs: Count /* time left to upload, from now */ },
  closed,
);

export const AggregateSchema = Type.Object(
  {
    v: V,
    runId: Id,
    round: Count,
    tensors: TensorRecordSchema, // the example-weighted average
    participants: Count, // how many clients it averages (ids are not shared)
  },
  closed,
);

export const ExcludedSchema = Type.Object(
  { v: V, runId: Id, round: Count, reason: Type.String({ maxLength: 256 }) }, // e.g. "deadline"
  closed,
);

export const ErrorSchema = Type.Object(
  {
    v: V,
    code: Type.Union(ERROR_CODE_LIST.map((c) => Type.Literal(c))),
    message: Type.String({ maxLength: 1024 }),
  },
  closed,
);

export type RunStateName = 'waiting' | 'training' | 'aggregating' | 'finished' | 'stopped';
export const RUN_STATES: readonly RunStateName[] = ['waiting', 'training', 'aggregating', 'finished', 'stopped'];

export const RunStateSchema = Type.Object(
  {
    v: V,
    runId: Id,
    state: Type.Union(RUN_STATES.map((s) => Type.Literal(s))),
    round: Count,
    globalStep: Count, // steps summed over all clients
    clients: Count, // connected clients
  },
  closed,
);

// ---- registry ------------------------------------------------------------------------------

export const CLIENT_MESSAGES = {
  hello: HelloSchema,
  activations: ActivationsSchema,
  front: FrontSchema,
  'top-gradient': TopGradientSchema,
  adapter: AdapterSchema,
  status: StatusSchema,
};
export const SERVER_MESSAGES = {
  welcome: WelcomeSchema,
  gradient: GradientSchema,
  top: TopSchema,
  'front-gradient': FrontGradientSchema,
  'aggregate-request': AggregateRequestSchema,
  aggregate: AggregateSchema,
  excluded: ExcludedSchema,
  error: ErrorSchema,
  'run-state': RunStateSchema,
};
export const MESSAGES = { ...CLIENT_MESSAGES, ...SERVER_MESSAGES };

export type ClientMessageName = keyof typeof CLIENT_MESSAGES;
export type ServerMessageName = keyof typeof SERVER_MESSAGES;
export type MessageName = keyof typeof MESSAGES;
export type Message<N extends MessageName> = Static<(typeof MESSAGES)[N]>;

export type HelloMessage = Message<'hello'>;
export type ActivationsMessage = Message<'activations'>;
export type FrontMessage = Message<'front'>;
export type TopGradientMessage = Message<'top-gradient'>;
export type TopMessage = Message<'top'>;
export type FrontGradientMessage = Message<'front-gradient'>;
export type AdapterMessage = Message<'adapter'>;
export type StatusMessage = Message<'status'>;
export type WelcomeMessage = Message<'welcome'>;
export type GradientMessage = Message<'gradient'>;
export type AggregateRequestMessage = Message<'aggregate-request'>;
export type AggregateMessage = Message<'aggregate'>;
export type ExcludedMessage = Message<'excluded'>;
export type ErrorMessage = Message<'error'>;
export type RunStateMessage = Message<'run-state'>;
export type RunConfig = Static<typeof RunConfigSchema>;
export type ClientState = Static<typeof ClientStateSchema>;

/** Event maps for typed sockets: `Server<ClientToServerEvents, ServerToClientEvents>`. */
export type ClientToServerEvents = { [N in ClientMessageName]: (msg: Message<N>) => void };
export type ServerToClientEvents = { [N in ServerMessageName]: (msg: Message<N>) => void };

export function isMessageName(name: unknown): name is MessageName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(MESSAGES, name);
}

/**
 * Returns the payload typed as message `name`, or throws a ProtocolError:
 * E_UNKNOWN_TYPE (no such message), E_VERSION (v ≠ PROTOCOL_VERSION), E_SCHEMA (first mismatch,
 * with its path).
 */
export function validate<N extends MessageName>(name: N, payload: unknown): Message<N> {
  if (!isMessageName(name)) {
    throw new ProtocolError('E_UNKNOWN_TYPE', `unknown message "${String(name).slice(0, 64)}"`);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new ProtocolError('E_SCHEMA', `${name}: the payload must be an object`);
  }
  const v = (payload as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'E_VERSION',
      `${name}: protocol version ${String(v)} is not supported (this side speaks ${PROTOCOL_VERSION}); reload the page or update the client`,
    );
  }
  const schema: TSchema = MESSAGES[name];
  if (!Value.Check(schema, payload)) {
    const first = Value.Errors(schema, payload).First();
    const where = (first?.path || '/').slice(0, 160); // a path can hold a peer's (long) key
    throw new ProtocolError('E_SCHEMA', `${name}${where}: ${first?.message ?? 'does not match the schema'}`);
  }
  return payload as Message<N>;
}
