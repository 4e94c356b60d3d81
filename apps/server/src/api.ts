// The operator REST API. Each route has its JSON schema next to its handler; every route that
// changes anything needs "Authorization: Bearer <operator token>", checked before the body is
// even parsed, so a request without it changes nothing and learns nothing about the body.
import { timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { HealthInfo } from '@splitlora/protocol';
import type { Evaluations } from './evaluations';
import { metricsCsv } from './metrics-csv';
import { DomainError, notFound, type DomainErrorKind } from './errors';
import type { RunManager } from './run-manager';
import { RunSettingsSchema } from './settings';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
type IdParams = Static<typeof IdParams>;

const MetricsQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
    /** Entries at or after this time (ms since the epoch, server clock). */
    since: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Entries with an id above this one (a cursor that never repeats an entry). */
    after: Type.Optional(Type.Integer({ minimum: 0 })),
    kind: Type.Optional(Type.String({ maxLength: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
type MetricsQuery = Static<typeof MetricsQuery>;

const EvaluateBody = Type.Object(
  {
    data: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    e2eMrs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

/** Every field optional here: parseSettings fills the defaults and checks the whole. */
const CreateRunBody = Type.Partial(RunSettingsSchema);

export function operatorAuth(expected: string) {
  const want = Buffer.from(expected);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const got = Buffer.from(m?.[1] ?? '');
    if (!m || got.length !== want.length || !timingSafeEqual(got, want)) {
      return reply.code(401).send({ error: 'E_AUTH', message: 'this needs the operator token: send "Authorization: Bearer <token>" (printed when the server started)' });
    }
  };
}

/** The operator API as a plugin on the app's `runs` and `evaluations`; not encapsulated, so its error handler is the app's. */
export const apiPlugin = fp(async (app: FastifyInstance, opts: { token: string; backend?: string }) => {
  registerApi(app, app.runs, { token: opts.token, backend: opts.backend, evaluations: app.evaluations });
}, { name: 'operator-api', decorators: { fastify: ['runs', 'evaluations'] } });

/** The one place a domain error becomes an HTTP status. */
const STATUS: Record<DomainErrorKind, number> = { invalid: 400, 'not-found': 404, conflict: 409 };

export function registerApi(app: FastifyInstance, manager: RunManager, opts: { token: string; backend?: string; evaluations: Evaluations }): void {
  const auth = operatorAuth(opts.token);
  const mutating = { onRequest: auth };

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
    if (err instanceof DomainError) return reply.code(STATUS[err.kind]).send({ error: err.code, message: err.message });
    const status = err.validation ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error({ err }, 'request failed');
    reply.code(status).send({ error: status === 500 ? 'E_INTERNAL' : 'E_BAD_REQUEST', message: status === 500 ? 'the server failed on this request; see its log' : err.message });
  });

  // ok is false while the training worker is down or restarting: the server answers, but cannot train.
  app.get('/api/health', async (): Promise<HealthInfo> => {
    const compute = { ...manager.compute.health };
    return {
      ok: compute.status === 'ready' || compute.status === 'idle', model: manager.model.id, backend: compute.backend ?? opts.backend ?? null,
      run: manager.current?.id ?? null, persistent: manager.dataDir !== null, compute, runHold: manager.current?.computeHoldReason ?? null,
    };
  });

  app.get('/api/runs', async () => ({ runs: manager.list() }));

  app.get<{ Params: IdParams }>('/api/runs/:id', { schema: { params: IdParams } }, async (req) => manager.detail(req.params.id));

  app.get<{ Params: IdParams; Querystring: MetricsQuery }>('/api/runs/:id/metrics', { schema: { params: IdParams, querystring: MetricsQuery } }, async (req, reply) => {
    const { id } = req.params;
    if (!manager.exists(id)) return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no run "${id}"; GET /api/runs lists them` });
    const { format, ...q } = req.query;
    const metrics = manager.store.metrics(id, q);
    if (format === 'csv') {
      reply.header('content-disposition', `attachment; filename="${id}-metrics.csv"`);
      return reply.type('text/csv; charset=utf-8').send(metricsCsv(metrics));
    }
    return { metrics };
  });

  app.get<{ Params: IdParams }>('/api/runs/:id/rounds', { schema: { params: IdParams } }, async (req, reply) => {
    const { id } = req.params;
    if (!manager.exists(id)) return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no run "${id}"; GET /api/runs lists them` });
    return { rounds: manager.store.rounds(id) };
  });

  app.get<{ Params: IdParams }>('/api/runs/:id/adapter', { schema: { params: IdParams } }, async (req, reply) => {
    const { bytes, filename } = await manager.adapterArchive(req.params.id);
    reply.header('content-disposition', `attachment; filename="${filename}"`);
    return reply.type('application/x-tar').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.post<{ Body: Static<typeof CreateRunBody> }>('/api/runs', { ...mutating, schema: { body: CreateRunBody } }, async (req, reply) => {
    const body = req.body ?? {};
    if (body.evalData !== undefined) opts.evaluations.dataPath(body.evalData);
    const run = await manager.create(body);
    return reply.code(201).send(manager.summary(run));
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: IdParams }>(`/api/runs/:id/${action}`, { ...mutating, schema: { params: IdParams } }, async (req) => {
      const run = manager.live(req.params.id);
      run[action]();
      return manager.summary(run);
    });
  }
  app.post<{ Params: IdParams }>('/api/runs/:id/stop', { ...mutating, schema: { params: IdParams } }, async (req) => manager.stop(req.params.id));

  // Held-out loss/perplexity (and optionally the E2E metrics) of the run's current adapters.
  app.post<{ Params: IdParams; Body: Static<typeof EvaluateBody> }>('/api/runs/:id/evaluate', { ...mutating, schema: { params: IdParams, body: EvaluateBody } }, async (req, reply) => {
    const ev = opts.evaluations.start(req.params.id, req.body ?? {});
    return reply.code(202).send({ evaluationId: ev.id, evaluation: ev });
  });
  app.get<{ Params: IdParams }>('/api/runs/:id/evaluations', { schema: { params: IdParams } }, async (req) => {
    if (!manager.exists(req.params.id)) throw notFound(`no run "${req.params.id}"`);
    return { evaluations: opts.evaluations.list(req.params.id) };
  });
}
