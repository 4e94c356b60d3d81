// A throwaway redis-server on a free loopback port (Debian's package; .ci/run installs it). No
// persistence: every test starts from an empty Redis. `restart` brings it back on the same port
// (for fault tests: clients reconnect to the same URL).
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port';

export class TestRedis {
  private proc: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const r = new TestRedis(await freePort());
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
