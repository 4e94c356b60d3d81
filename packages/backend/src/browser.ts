// The one place that decides the tfjs backend in the browser: webgpu → webgl → wasm → cpu, and
// moves on down that order when a backend cannot hold the model (fitBackendToModel).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { checkWebglFit, checkWebgpuFit, type ModelShape } from './model-fit';

export const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

// Vite fingerprints the .wasm files; tell the wasm backend where they ended up.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

async function works(name: BrowserBackend): Promise<boolean> {
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    // A tiny op proves the backend really runs (WebGPU adapters can exist yet fail).
    const probe = tf.matMul(tf.ones([2, 2]), tf.ones([2, 2]));
    const ok = (await probe.data())[0] === 2;
    probe.dispose();
    return ok;
  } catch {
    return false;
  }
}

/** Activates `preferred` if given and working, else the first working backend in order. */
export async function selectBrowserBackend(preferred?: string | null): Promise<BrowserBackend> {
  const order = preferred && (BROWSER_BACKENDS as readonly string[]).includes(preferred)
    ? [preferred as BrowserBackend, ...BROWSER_BACKENDS.filter((b) => b !== preferred)]
    : [...BROWSER_BACKENDS];
  for (const name of order) if (await works(name)) return name;
  throw new Error('backend: no tfjs backend works in this browser');
}

export { checkWebglFit, checkWebgpuFit, type FitResult, type ModelShape } from './model-fit';

export interface BackendChoice {
  name: BrowserBackend;
  /** The backend given up, when it could not hold the model. */
  fellBackFrom: BrowserBackend | null;
  /** Why, in full (for the page), or null. */
  reason: string | null;
  /** What the hello's backend field says: the name, plus a short why after a fall-back (≤ 64 chars). */
  label: string;
}

/** Makes tfjs-webgl refuse textures over `n` texels a side, as a GPU with that limit would (for tests). */
export function limitWebglTextureSize(n: number): void {
  tf.env().set('WEBGL_MAX_TEXTURE_SIZE', n);
}

/** Why the active backend `name` cannot hold the client model, or null if it can. */
async function cannotHold(name: BrowserBackend, m: ModelShape): Promise<{ reason: string; short: string } | null> {
  if (name === 'webgl' || name === 'webgpu') {
    const fit = name === 'webgl'
      ? checkWebglFit(m, tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE'))
      : checkWebgpuFit(m, (tf.backend() as unknown as { device?: { limits: { maxStorageBufferBindingSize: number } } }).device?.limits.maxStorageBufferBindingSize ?? Infinity);
    if (!fit.fits) return { reason: fit.reason!, short: `${name}: ${fit.tensor} needs ${fit.needs.join('×')} > ${fit.limit}` };
    // The limits say yes; make tfjs really place the embedding (and read a row) to be sure.
    try {
      const row = tf.tidy(() => tf.gather(tf.zeros([m.vocabSize, m.nEmbd]), [m.vocabSize - 1]));
      await row.data();
      row.dispose();
    } catch (e) {
      return { reason: `${name} failed to hold wte [${m.vocabSize}×${m.nEmbd}]: ${e instanceof Error ? e.message : String(e)}`, short: `${name}: cannot hold wte` };
    }
  }
  return null;
}

/**
 * Keeps the active backend if it can hold a client model of shape `m`; otherwise activates the
 * next working backend in BROWSER_BACKENDS order that can, and says why.
 */
export async function fitBackendToModel(current: BrowserBackend, m: ModelShape): Promise<BackendChoice> {
  const reasons: { reason: string; short: string }[] = [];
  const start = BROWSER_BACKENDS.indexOf(current);
  for (let i = start; i < BROWSER_BACKENDS.length; i++) {
    const name = BROWSER_BACKENDS[i];
    if (tf.getBackend() !== name && !(await works(name))) continue;
    const why = await cannotHold(name, m);
    if (why) {
      reasons.push(why);
      continue;
    }
    const first = reasons[0];
    return {
      name,
      fellBackFrom: first ? current : null,
      reason: first ? reasons.map((r) => r.reason).join('; ') : null,
      label: first ? `${name} (${first.short})`.slice(0, 64) : name,
    };
  }
  throw new Error(`backend: no tfjs backend here can hold the model: ${reasons.map((r) => r.reason).join('; ')}`);
}
