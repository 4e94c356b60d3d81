// A throwaway redis-server on a free loopback port (Debian's package; .ci/run installs it), for
// `bench-scale` and the cluster tests (lab infrastructure: the server itself never starts one). No persistence: every start is an empty Redis. `restart` brings
// it back on the same port (fault tests: clients reconnect to the same URL); `netBytes` reads the
// server's own traffic and command counters (INFO stats, commandstats), which the bench divides per round.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port';

/** Bytes Redis has received from and sent to all its clients since it started. */
export interface RedisNetBytes {
  input: number;
  output: number;
}

/** Bytes and commands so far: what Redis received and sent, and its calls per command name. */
export interface RedisCounters extends RedisNetBytes {
  calls: Record<string, number>;
}

/** Reads total_net_input_bytes / total_net_output_bytes from an INFO stats reply. */
export function parseNetBytes(info: string): RedisNetBytes {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
    if (!m) throw new Error(`INFO stats has no ${name} field`);
    return Number(m[1]);
  };
  return { input: field('total_net_input_bytes'), output: field('total_net_output_bytes') };
}

/** Calls per command from an INFO commandstats reply (`cmdstat_xadd:calls=3,…`; `client|list` stays as it is). */
export function parseCommandCalls(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
  return calls;
}

export class RedisServer {
  private proc: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The redis-server process id (null while stopped). */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  static async start(): Promise<RedisServer> {
    const r = new RedisServer(await freePort());
    await r.launch();
    return r;
  }

  private async launch(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let out = '';
    proc.stdout!.on('data', (d) => { out += String(d); });
    proc.stderr!.on('data', (d) => { out += String(d); });
    const spawned = new Promise<never>((_, reject) => {
      proc.once('error', (e) => reject(new Error(`redis-server did not start (${e.message}); install it: apt-get install -y redis-server`)));
      proc.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}: ${out.slice(-500)}`)));
    });
    await Promise.race([spawned, this.waitReady()]);
  }

  private async waitReady(): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {}); // refused until the server listens; connect() rejects with it too
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        if (Date.now() - t0 > 10_000) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        c.disconnect();
      }
    }
  }

  /** Traffic and commands so far, read over a short-lived connection of its own (which adds a few kB and 4 commands). */
  async counters(): Promise<RedisCounters> {
    const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      const calls = parseCommandCalls(await c.info('commandstats'));
      return { ...parseNetBytes(await c.info('stats')), calls };
    } finally {
      c.disconnect();
    }
  }

  /** Kills the server (SIGKILL when `hard`), as an outage would. */
  async stop(hard = false): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  /** Stops it and starts a fresh, empty one on the same port. */
  async restart(): Promise<void> {
    await this.stop(true);
    await this.launch();
  }
}
