// The one place that decides the tfjs backend in Node. Preference: tfjs-node-gpu (native
// TensorFlow; optional, loaded only if installed), webgpu through Dawn on a real GPU (the
// optional package `webgpu`), tfjs-node, then wasm, then cpu.
import * as tf from '@tensorflow/tfjs';
import { activateNodeWebgpu } from './webgpu-node';

export { prepareWebgpuForWorkers } from './webgpu-node';

export const NODE_BACKENDS = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

async function tryNative(pkg: string): Promise<boolean> {
  try {
    // A variable specifier keeps bundlers and tsc from resolving a package that is usually absent.
    await import(/* @vite-ignore */ pkg);
    return tf.findBackend('tensorflow') !== null || tf.engine().registryFactory['tensorflow'] !== undefined;
  } catch {
    return false;
  }
}

/** Activates `name`; returns false if unavailable, or a string to add to the log line. */
async function activate(name: NodeBackend, requested: boolean, log: (msg: string) => void): Promise<boolean | string> {
  switch (name) {
    case 'webgpu': {
      const r = await activateNodeWebgpu({ allowSoftware: requested, log });
      if (!r.ok) {
        if (requested) throw new Error(`backend: "webgpu" is not available: ${r.reason}`);
        log(`tfjs backend: webgpu skipped: ${r.reason}`);
        return false;
      }
      return r.software ? `adapter ${r.adapter}; warning: not a real GPU, ${r.software}: slow, for testing only` : `adapter ${r.adapter}`;
    }
    case 'tensorflow-gpu':
      return (await tryNative('@tensorflow/tfjs-node-gpu')) && tf.setBackend('tensorflow');
    case 'tensorflow':
      return (await tryNative('@tensorflow/tfjs-node')) && tf.setBackend('tensorflow');
    case 'wasm':
      try {
        await import('@tensorflow/tfjs-backend-wasm');
        return await tf.setBackend('wasm');
      } catch {
        return false;
      }
    case 'cpu':
      return tf.setBackend('cpu');
  }
}

/**
 * Activates the best available backend, or exactly `preferred` (error if unavailable).
 * Logs the choice through `log` and returns its name.
 */
export async function selectNodeBackend(preferred?: string, log: (msg: string) => void = (m) => console.error(m)): Promise<NodeBackend> {
  if (preferred && preferred !== 'auto') {
    if (!(NODE_BACKENDS as readonly string[]).includes(preferred)) {
      throw new Error(`backend: unknown backend "${preferred}"; choose one of ${NODE_BACKENDS.join(', ')} or auto`);
    }
    const ok = await activate(preferred as NodeBackend, true, log);
    if (!ok) {
      const hint = preferred.startsWith('tensorflow') ? ' (install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu 4.22.0 next to this project)' : '';
      throw new Error(`backend: "${preferred}" is not available on this machine${hint}`);
    }
    await tf.ready();
    log(`tfjs backend: ${preferred} (requested${typeof ok === 'string' ? `; ${ok}` : ''})`);
    return preferred as NodeBackend;
  }
  for (const name of NODE_BACKENDS) {
    const ok = await activate(name, false, log);
    if (ok) {
      await tf.ready();
      log(`tfjs backend: ${name}${typeof ok === 'string' ? ` (${ok})` : ''}`);
      return name;
    }
  }
  throw new Error('backend: no tfjs backend could be initialised');
}
