// The one place that decides the tfjs backend in the browser: webgpu → webgl → wasm → cpu.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

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
