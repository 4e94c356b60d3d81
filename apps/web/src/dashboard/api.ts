// The operator REST API, typed. The dashboard talks to the server only through this file.
// Every request carries the operator token when one is set (the server needs it on every
// mutating route; read routes ignore it).

export type RunStatus = 'waiting' | 'training' | 'aggregating' | 'paused' | 'finished' | 'stopped';

export interface Health {
  ok: boolean;
  model: string;
  backend: string | null;
  run: string | null;
  /** Whether runs are kept on disk (`--data-dir`); absent on older servers. */
  persistent?: boolean;
}

/** Settings as the server echoes them back (apps/server/src/settings.ts). */
export type RunSettingsJson = Record<string, unknown> & { name?: string; rounds?: number; interval?: number; evalData?: string };

export interface RunSummary {
  id: string;
  name: string;
  status: RunStatus;
  round: number;
  rounds: number;
  step: number;
  clients: number;
  lastLoss: number | null;
  settings: RunSettingsJson;
  cut: number;
  modelId: string;
  /** Optional extras of a persistent server. */
  createdAt?: number;
  checkpoint?: { round: number; file: string; at: number } | null;
  /** Set when the run was resumed from a checkpoint after a server restart. */
  recovery?: { checkpoint: string | null; round: number; rejected: { file: string; reason: string }[]; at: number } | null;
}

export interface ClientInfo {
  id: string;
  connected: boolean;
  backend: string;
  userAgent: string;
  examples: number;
  steps: number;
  tokens: number;
  bytesUp: number;
  bytesDown: number;
  lastLoss: number | null;
  /** Server clock, ms since the epoch. */
  lastSeen: number;
}

export interface RunDetail extends RunSummary {
  clientList: ClientInfo[];
}

export interface Metric {
  /** Log entry id, increasing in insertion order (a cursor), where the server keeps one. */
  id?: number;
  at: number;
  kind: 'step' | 'round' | 'client' | 'state' | 'eval' | 'throughput';
  clientId?: string;
  round?: number;
  step?: number;
  globalStep?: number;
  loss?: number;
  tokens?: number;
  heldoutLoss?: number;
  /** Server throughput samples ('throughput'). */
  tokensPerSec?: number;
  state?: string;
  event?: string;
  participants?: number;
  failures?: string[];
  closedBy?: string;
  aggregated?: boolean;
  [k: string]: unknown;
}

export interface RoundInfo {
  round: number;
  participants: number;
  failures: string[];
  closedBy: string;
  aggregated: boolean;
  at: number;
}

export interface Evaluation {
  id: string;
  status: string;
  /** 0..1 */
  progress: number;
  result?: Record<string, number | string | null>;
  error?: string;
}

export type RunAction = 'pause' | 'resume' | 'stop';

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
