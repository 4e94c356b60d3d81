// Choosing the compute engine: auto without torch falls back to tfjs and says why; an explicit
// torch without torch (or with one too old) fails in one line naming what to install; a bad
// --device or --threads is refused. Python "without torch" is a real interpreter that cannot see
// it (python3 -S skips site-packages), and "too old" is a stand-in torch package on its path.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineUnavailable, resolveEngine } from '@splitlora/server';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test/kit/cli';

const python = ['python3', '/usr/bin/python3'].find((p) => { try { execFileSync(p, ['-c', 'pass']); return true; } catch { return false; } });
const tmp = mkdtempSync(join(tmpdir(), 'splitlora-engine-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An executable that runs `python` with extra arguments and environment. */
function wrapper(name: string, args: string, env = ''): string {
  const p = join(tmp, name);
  writeFileSync(p, `#!/bin/sh\n${env} exec ${python} ${args} "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m);

describe('engine selection', () => {
  it('auto without any Python picks tfjs and says why', async () => {
    const r = await resolveEngine({ engine: 'auto', python: join(tmp, 'no-such-python') });
    expect(r.engine).toBe('tfjs');
    expect(r.why).toMatch(/^engine auto: tfjs, because the torch engine needs Python 3, and none was found/);
  });

  it('--engine torch without Python fails with the install hint, in one line', async () => {
    const r = await runCli(['serve', '--engine', 'torch', '--python', join(tmp, 'no-such-python'), '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/splitlora: error: the torch engine needs Python 3.*apt-get install python3-torch/);
    noStack(r.stderr);
  });

  it.skipIf(!python)('auto with a Python that has no torch picks tfjs; --engine torch names the package to install', async () => {
    const bare = wrapper('python-bare', '-S');
    const auto = await resolveEngine({ engine: 'auto', python: bare });
    expect(auto.engine).toBe('tfjs');
    expect(auto.why).toContain("has none (import torch: No module named 'torch')");
    const r = await runCli(['simulate', '--engine', 'torch', '--python', bare, '--steps', '2', '--interval', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/splitlora: error: the torch engine needs PyTorch >= 1\.13, and .*python-bare has none.*apt-get install python3-torch libopenblas0-pthread/);
    noStack(r.stderr);
    const doctor = await runCli(['doctor', '--python', bare]);
    expect(doctor.code).toBe(0);
    expect(doctor.json.auto).toBe('tfjs');
    expect(doctor.json.torch).toBeNull();
    expect(doctor.json.install).toContain('python3-torch');
  });

  it.skipIf(!python)('a torch older than 1.13 is refused with the upgrade hint', async () => {
    const fake = join(tmp, 'old-torch');
    mkdirSync(join(fake, 'torch'), { recursive: true });
    writeFileSync(join(fake, 'torch', '__init__.py'), '__version__ = "1.12.1"\nclass version:\n    cuda = None\nclass cuda:\n    is_available = staticmethod(lambda: False)\n');
    const old = wrapper('python-old-torch', '-S', `PYTHONPATH=${fake}`);
    await expect(resolveEngine({ engine: 'torch', python: old })).rejects.toThrow(/torch 1\.12\.1 in .*python-old-torch is too old: the torch engine needs >= 1\.13/);
  });

  it('a bad --device or --threads gets a clear error', async () => {
    const r = await runCli(['serve', '--engine', 'torch', '--device', 'gpu']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("option '--device <name>' argument 'gpu' is invalid. Allowed choices are auto, cpu, cuda.");
    const t = await runCli(['bench-server', '--engine', 'torch', '--threads', '0']);
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain('expected an integer >= 1');
    await expect(resolveEngine({ engine: 'torch', device: 'tpu' as never })).rejects.toBeInstanceOf(EngineUnavailable);
  });

  it.skipIf(!python)('--device cuda where torch sees no GPU says so (on a machine without CUDA)', async () => {
    const r = await resolveEngine({ engine: 'auto', device: 'cuda' });
    if (r.engine === 'torch') return; // a GPU machine: CUDA is there
    expect(r.why).toMatch(/--device cuda: torch .* (was built without CUDA|sees no CUDA device); use --device cpu or auto|needs PyTorch|needs Python/);
  });
});
