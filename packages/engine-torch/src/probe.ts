// What the torch engine needs, and whether this machine has it: a Python 3 with torch ≥ 1.13,
// msgpack and numpy (and CUDA when asked for). Every "no" comes as one line that says what to
// install or change; nothing here throws a stack at the operator.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The engine's Python package (splitlora_torch) lives here; it goes on PYTHONPATH. */
export const PYTHON_DIR = fileURLToPath(new URL('../python', import.meta.url));

export const MIN_TORCH = '1.13';
export const INSTALL_HINT = 'apt-get install python3-torch libopenblas0-pthread python3-msgpack (Debian), or pip install -r packages/engine-torch/python/requirements.txt';

export type TorchDevice = 'auto' | 'cpu' | 'cuda';

export interface TorchProbe {
  /** The interpreter that has everything (or the first one found, when none has). */
  python: string;
  pythonVersion: string;
  torch: string | null;
  cudaAvailable: boolean;
  /** The CUDA version torch was built for; null for a CPU-only build. */
  cudaBuilt: string | null;
  gpus: string[];
  msgpack: string | null;
  numpy: string | null;
  /** Why the engine cannot run here, in one line; null when it can. */
  problem: string | null;
}

const PROBE = `
import json, sys
out = {"pythonVersion": sys.version.split()[0]}
for name in ("numpy", "msgpack", "torch"):
    try:
        mod = __import__(name)
        out[name] = ".".join(map(str, mod.version)) if name == "msgpack" else mod.__version__
    except Exception as e:
        out[name] = None
        out[name + "Error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
if out.get("torch"):
    import torch
    out["cudaBuilt"] = torch.version.cuda
    out["cudaAvailable"] = bool(torch.cuda.is_available())
    out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if out["cudaAvailable"] else []
print(json.dumps(out))
`;

function run(python: string): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return resolve(null);
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>);
      } catch {
        resolve(null);
      }
    });
  });
}

function olderThan(version: string, min: string): boolean {
  const [a, b] = version.split(/[.+a-z]/i).map(Number);
  const [c, d] = min.split('.').map(Number);
  return a < c || (a === c && b < d);
}

/** The interpreters tried, in order: --python, $SPLITLORA_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
export function pythonCandidates(explicit?: string): string[] {
  if (explicit) return [explicit];
  const env = process.env.SPLITLORA_PYTHON;
  if (env) return [env];
  return ['python3', '/usr/bin/python3'];
}

/** Probes the candidates and returns the first with a usable torch, or the first Python found with its problem. */
export async function probeTorch(opts: { python?: string; device?: TorchDevice } = {}): Promise<TorchProbe> {
  const candidates = pythonCandidates(opts.python);
  let best: { probe: TorchProbe; stage: number } | null = null;
  for (const python of [...new Set(candidates)]) {
    const r = await run(python);
    if (!r) continue;
    const p: TorchProbe = {
      python,
      pythonVersion: String(r.pythonVersion),
      torch: (r.torch as string | null) ?? null,
      cudaAvailable: Boolean(r.cudaAvailable),
      cudaBuilt: (r.cudaBuilt as string | null) ?? null,
      gpus: (r.gpus as string[] | undefined) ?? [],
      msgpack: (r.msgpack as string | null) ?? null,
      numpy: (r.numpy as string | null) ?? null,
      problem: null,
    };
    // How far this interpreter gets: the one that gets furthest names the problem worth fixing.
    let stage = 0;
    if (!p.torch) p.problem = `the torch engine needs PyTorch >= ${MIN_TORCH}, and ${python} has none (import torch: ${r.torchError}); install it: ${INSTALL_HINT}`;
    else if (++stage && olderThan(p.torch, MIN_TORCH)) p.problem = `torch ${p.torch} in ${python} is too old: the torch engine needs >= ${MIN_TORCH}; upgrade it: ${INSTALL_HINT}`;
    else if (++stage && !p.numpy) p.problem = `the torch engine needs numpy in ${python} (import numpy: ${r.numpyError}); install it: ${INSTALL_HINT}`;
    else if (++stage && !p.msgpack) p.problem = `the torch engine needs msgpack in ${python} (import msgpack: ${r.msgpackError}); install it: ${INSTALL_HINT}`;
    else if (++stage && opts.device === 'cuda' && !p.cudaAvailable) p.problem = `--device cuda: torch ${p.torch} in ${python} ${p.cudaBuilt ? 'sees no CUDA device' : 'was built without CUDA'}; use --device cpu or auto`;
    if (!p.problem) return p;
    if (!best || stage > best.stage) best = { probe: p, stage };
  }
  return best?.probe ?? {
    python: candidates[0], pythonVersion: '', torch: null, cudaAvailable: false, cudaBuilt: null, gpus: [], msgpack: null, numpy: null,
    problem: `the torch engine needs Python 3, and none was found (tried ${candidates.join(', ')}); install it: ${INSTALL_HINT}, or point --python at one`,
  };
}
