// Backend selection with webgpu in Node: auto never takes a CPU adapter (here SwiftShader, the
// only Vulkan driver this file lets the loader see), and an explicit --backend webgpu takes it
// with a warning.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { SWIFTSHADER_ICDS } from '@splitlora/backend/webgpu-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBGPU_SKIP, webgpuTitle } from '../support/webgpu';

const swiftshader = SWIFTSHADER_ICDS.find(existsSync);
const navigatorGpu = () => (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;

describe.skipIf(WEBGPU_SKIP !== null || !swiftshader)(webgpuTitle('selectNodeBackend with webgpu on SwiftShader'), () => {
  beforeAll(() => {
    // This file runs in its own process (pool: forks), so this reaches the Vulkan loader.
    process.env.VK_ICD_FILENAMES = swiftshader;
  });

  it('auto skips the CPU adapter, names it, and leaves no navigator.gpu behind', async () => {
    const log: string[] = [];
    const chosen = await selectNodeBackend('auto', (m) => log.push(m));
    expect(chosen).not.toBe('webgpu');
    expect(log.join('\n')).toContain('tfjs backend: webgpu skipped: adapter vendor google, architecture swiftshader, "SwiftShader driver');
    expect(log.join('\n')).toContain('is not a real GPU: it is SwiftShader, a CPU emulator');
    expect(log.at(-1)).toBe(`tfjs backend: ${chosen}`);
    expect(navigatorGpu()).toBeUndefined();
  });

  it('explicit webgpu takes it with a warning, and computes', async () => {
    const log: string[] = [];
    expect(await selectNodeBackend('webgpu', (m) => log.push(m))).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(log).toEqual(['tfjs backend: webgpu (requested; adapter vendor google, architecture swiftshader, "SwiftShader driver 5.0.0"; warning: not a real GPU, it is SwiftShader, a CPU emulator: slow, for testing only)']);
    expect(navigatorGpu()).toBeDefined();
    // 64×64 is above tfjs's CPU hand-off size, so this runs as a WebGPU shader.
    const a = Float32Array.from({ length: 64 * 64 }, (_, j) => ((j * 7) % 13) / 13 - 0.5);
    const product = tf.matMul(tf.tensor2d(a, [64, 64]), tf.tensor2d(a, [64, 64]));
    const got = await product.data();
    let maxDiff = 0;
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) {
      let want = 0;
      for (let k = 0; k < 64; k++) want += a[i * 64 + k] * a[k * 64 + j];
      maxDiff = Math.max(maxDiff, Math.abs(got[i * 64 + j] - want));
    }
    expect(maxDiff).toBeLessThan(1e-4);
    product.dispose();
  });

  it('auto afterwards still refuses the CPU adapter already in use', async () => {
    const log: string[] = [];
    expect(await selectNodeBackend('auto', (m) => log.push(m))).not.toBe('webgpu');
    expect(log.join('\n')).toContain('tfjs backend: webgpu skipped: the adapter in use is vendor google, architecture swiftshader');
  });
});
