// The real CLI (node bin/splitlora.mjs …) as a subprocess from the repository root.
import { execFile } from 'node:child_process';
import { CLI_BIN, REPO_ROOT } from './paths';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON, or undefined. */
  json: any;
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      let json: unknown;
      try {
        json = JSON.parse(last);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}
