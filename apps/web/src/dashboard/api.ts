// The operator REST API, typed. The dashboard talks to the server only through this file.
// Every request carries the operator token when one is set (the server needs it on every
// mutating route; read routes ignore it). The response types are the server's, from
// @splitlora/protocol.
import type {
  ClientInfo, EvaluationInfo as Evaluation, HealthInfo as Health, MetricEntry as Metric, RoundInfo, RunAction, RunDetail, RunStatus, RunSummary,
} from '@splitlora/protocol';

export type { ClientInfo, Evaluation, Health, Metric, RoundInfo, RunAction, RunDetail, RunStatus, RunSummary };

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
  get unauthorized(): boolean {
    return this.status === 401;
  }
  get notFound(): boolean {
    return this.status === 404;
  }
}

export const TOKEN_ERROR = 'wrong or missing operator token';

export class Api {
  /** Server clock minus ours (ms), from the Date header; 0 until a response arrives. */
  clockSkew = 0;

  constructor(private readonly token: () => string | null, private readonly base = '') {}

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'E_NETWORK', 'the server cannot be reached; is `splitlora serve` still running?');
    }
    const date = Date.parse(res.headers.get('date') ?? '');
    // The Date header has 1 s resolution: only a larger difference is a real skew.
    if (Number.isFinite(date)) this.clockSkew = Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0;
    if (!res.ok) {
      const err = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      if (res.status === 401) throw new ApiError(401, 'E_AUTH', `${TOKEN_ERROR}: paste the token that \`splitlora serve\` printed`);
      throw new ApiError(res.status, err.error ?? `HTTP_${res.status}`, err.message ?? `${method} ${path} answered ${res.status}`);
    }
    return res;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  health = () => this.json<Health>('GET', '/api/health');
  runs = async () => (await this.json<{ runs: RunSummary[] }>('GET', '/api/runs')).runs;
  run = (id: string) => this.json<RunDetail>('GET', `/api/runs/${enc(id)}`);
  createRun = (settings: unknown) => this.json<RunSummary>('POST', '/api/runs', settings);
  act = (id: string, action: RunAction) => this.json<RunSummary>('POST', `/api/runs/${enc(id)}/${action}`, {});

  /** Metrics with an id above `after`, or recorded at or after `since` (ms, server clock). */
  async metrics(id: string, cursor: { after?: number; since?: number } = {}): Promise<Metric[]> {
    const q = cursor.after !== undefined ? `?after=${cursor.after}` : cursor.since !== undefined ? `?since=${cursor.since}` : '';
    return (await this.json<{ metrics: Metric[] }>('GET', `/api/runs/${enc(id)}/metrics${q}`)).metrics;
  }

  rounds = async (id: string) => (await this.json<{ rounds: RoundInfo[] }>('GET', `/api/runs/${enc(id)}/rounds`)).rounds;
  evaluations = async (id: string) => (await this.json<{ evaluations: Evaluation[] }>('GET', `/api/runs/${enc(id)}/evaluations`)).evaluations;
  evaluate = (id: string, body: { data?: string; limit?: number; e2eMrs?: number }) => this.json<{ evaluationId: string }>('POST', `/api/runs/${enc(id)}/evaluate`, body);

  /** A file download (adapter archive, metrics CSV) as a blob and the server's file name. */
  async download(path: string): Promise<{ blob: Blob; filename: string | null }> {
    const res = await this.request('GET', path);
    const cd = res.headers.get('content-disposition') ?? '';
    const filename = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd)?.[1] ?? null;
    return { blob: await res.blob(), filename: filename ? decodeURIComponent(filename) : null };
  }
}

const enc = encodeURIComponent;
