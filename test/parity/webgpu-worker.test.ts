// selectNodeBackend('webgpu') inside a worker thread, where the server's compute runs. A worker
// cannot change the environment the Vulkan loader reads, so on a CPU-only machine the main
// thread calls prepareWebgpuForWorkers() first, which points VK_ICD_FILENAMES at SwiftShader.
import { Worker } from 'node:worker_threads';
import { prepareWebgpuForWorkers } from '@splitlora/backend/node';
import { describe, expect, it } from 'vitest';
import { WEBGPU_SKIP, webgpuTitle } from '../support/webgpu';

interface Reply { name?: string; log?: string[]; sum?: number; error?: string }

/** Starts a worker that selects `backend` and sums 4096 ones on it. */
async function selectInWorker(backend: string): Promise<Reply> {
  const nodeTs = new URL('../../packages/backend/src/node.ts', import.meta.url).href;
  // A worker cannot load TypeScript by itself; tsx compiles on the fly, as bin/splitlora.mjs does.
  const code = `(async () => {
    const { parentPort } = await import('node:worker_threads');
    try {
      const { register } = await import('tsx/esm/api');
      register();
      const { selectNodeBackend } = await import(${JSON.stringify(nodeTs)});
      const tf = await import('@tensorflow/tfjs');
      const log = [];
      const name = await selectNodeBackend(${JSON.stringify(backend)}, (m) => log.push(m));
      const sum = await tf.sum(tf.ones([4096])).data();
      parentPort.postMessage({ name, log, sum: sum[0] });
    } catch (e) { parentPort.postMessage({ error: String(e) }); }
  })();`;
  const worker = new Worker(code, { eval: true });
  try {
    return await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

describe.skipIf(WEBGPU_SKIP !== null)(webgpuTitle('webgpu in a worker thread'), () => {
  it('after prepareWebgpuForWorkers() on the main thread, a worker selects webgpu and computes', async () => {
    const log: string[] = [];
    await prepareWebgpuForWorkers((m) => log.push(m));
    expect(process.env.VK_ICD_FILENAMES, log.join('\n')).toBeDefined();
    const reply = await selectInWorker('webgpu');
    expect(reply.error).toBeUndefined();
    expect(reply.name).toBe('webgpu');
    expect(reply.log!.join('\n')).toMatch(/tfjs backend: webgpu \(requested; adapter vendor \S+/);
    expect(reply.sum).toBe(4096);
  }, 120_000);
});
