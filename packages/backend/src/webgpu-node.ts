// tfjs's WebGPU backend in Node, through Dawn's bindings (the optional npm package `webgpu`).
// tfjs-backend-webgpu registers itself only if navigator.gpu exists when it loads, so the
// shim goes in first. Everything here is a no-op until activateNodeWebgpu() is called.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { classifyAdapter, describeAdapter, type AdapterInfoLike } from './webgpu-adapter';

/** Where Chromium packages ship SwiftShader's Vulkan driver (Debian/Ubuntu chromium, Google Chrome). */
export const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'];

// The parts of Dawn's bindings used here (the package's own types pull in @webgpu/types globally).
interface DeviceDescriptorLike { requiredFeatures?: Iterable<unknown>; [key: string]: unknown }
interface AdapterLike extends Pick<AdapterInfoLike, 'isFallbackAdapter'> {
  info?: AdapterInfoLike;
  requestDevice(descriptor?: DeviceDescriptorLike): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<AdapterLike | null>;
  getPreferredCanvasFormat?(): string;
  wgslLanguageFeatures?: unknown;
}
interface DawnModule { create(flags: string[]): GpuLike; globals: Record<string, unknown> }

export type WebgpuActivation =
  | { ok: true; adapter: string; software: string | null }
  | { ok: false; reason: string };

export interface WebgpuOptions {
  /** Accept a software adapter (SwiftShader, llvmpipe, ...), and fall back to SwiftShader when no GPU is found. */
  allowSoftware: boolean;
  log: (msg: string) => void;
}

let active: { adapter: string; software: string | null } | null = null;

const vulkanDriverEnv = () => ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES'].some((k) => !!process.env[k]);

/** Linux only: is any Vulkan driver manifest where the loader looks? Without one there is no Vulkan GPU to probe. */
function hasVulkanDriverManifest(): boolean {
  if (vulkanDriverEnv()) return true;
  const roots = [
    ...(process.env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'), '/etc',
    join(homedir(), '.local/share'), ...(process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':'), '/usr/local/share', '/usr/share',
  ];
  return roots.some((root) => {
    try {
      return readdirSync(join(root, 'vulkan/icd.d')).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

async function loadDawn(): Promise<DawnModule | string> {
  const pkg = 'webgpu';
  try {
    // A variable specifier: the package is optional, and tsc must not pull in its global types.
    return (await import(/* @vite-ignore */ pkg)) as DawnModule;
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    return `the optional package "webgpu" (Dawn's Node bindings) did not load (${why}); install it with npm install webgpu@0.6.2`;
  }
}

function createGpu(dawn: DawnModule): GpuLike {
  // Dawn picks Metal or D3D12 by itself elsewhere; on Linux only its Vulkan backend can compute.
  return dawn.create(process.platform === 'linux' ? ['backend=vulkan'] : []);
}

/**
 * The GPU that tfjs sees. tfjs 4.22 pushes ['bgra8unorm-storage'] (an array) into requiredFeatures;
 * Dawn's strict bindings reject it, so each adapter's requestDevice gets a flattened list.
 */
function tfjsFacingGpu(gpu: GpuLike): GpuLike {
  return {
    async requestAdapter(options) {
      const adapter = await gpu.requestAdapter(options);
      if (!adapter) return adapter;
      const requestDevice = adapter.requestDevice.bind(adapter);
      adapter.requestDevice = (d = {}) => requestDevice({ ...d, requiredFeatures: [...(d.requiredFeatures ?? [])].flat() });
      return adapter;
    },
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat?.() ?? 'bgra8unorm',
    get wgslLanguageFeatures() { return gpu.wgslLanguageFeatures; },
  };
}

function installNavigatorGpu(dawn: DawnModule, gpu: GpuLike): void {
  // GPUBufferUsage, GPUMapMode, ... which tfjs reads as globals; never overwrite what exists.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const g = globalThis as { navigator?: object };
  // Node 21+ has a navigator of its own (without gpu); Node 20 has none.
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, enumerable: true });
  else g.navigator = { gpu };
}

function noAdapterReason(allowSoftware: boolean): string {
  const hints = [
    'is the Vulkan loader installed (Debian: apt-get install libvulkan1) with a GPU driver?',
    'in a container, NVIDIA_DRIVER_CAPABILITIES must include graphics for the NVIDIA Vulkan driver',
  ];
  if (allowSoftware && !isMainThread && !vulkanDriverEnv()) {
    hints.push(`inside a worker thread the SwiftShader fallback cannot set VK_ICD_FILENAMES (a worker's process.env is a copy): call prepareWebgpuForWorkers() on the main thread first, or set VK_ICD_FILENAMES=${SWIFTSHADER_ICDS[0]} before starting`);
  } else if (allowSoftware && !SWIFTSHADER_ICDS.some(existsSync)) {
    hints.push(`for CPU-only testing install chromium, whose SwiftShader driver (${SWIFTSHADER_ICDS[0]}) is used then`);
  }
  return `Dawn found no WebGPU adapter (${hints.join('; ')})`;
}

/**
 * The high-performance adapter, with the SwiftShader fallback when `allowSoftware`: when no Vulkan
 * driver is configured and none is found, VK_ICD_FILENAMES is pointed at a Chromium install's
 * SwiftShader (only the main thread can change the environment that the Vulkan loader reads).
 */
async function findAdapter(dawn: DawnModule, allowSoftware: boolean, log: (msg: string) => void): Promise<{ gpu: GpuLike; adapter: AdapterLike | null }> {
  let gpu = createGpu(dawn);
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const swiftshader = SWIFTSHADER_ICDS.find(existsSync);
  if (!adapter && allowSoftware && process.platform === 'linux' && !vulkanDriverEnv() && swiftshader && isMainThread) {
    log(`webgpu: no GPU adapter found; falling back to SwiftShader (CPU emulation, slow: for testing) with VK_ICD_FILENAMES=${swiftshader}`);
    // The Vulkan loader reads this when Dawn creates its next instance.
    process.env.VK_ICD_FILENAMES = swiftshader;
    gpu = createGpu(dawn);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  }
  return { gpu, adapter };
}

/**
 * For a process whose compute workers will ask for webgpu explicitly: call on the main thread
 * before starting them. If Dawn finds no adapter, it points VK_ICD_FILENAMES at SwiftShader here,
 * where the change reaches the Vulkan loader (a worker's process.env is a copy). Installs nothing.
 */
export async function prepareWebgpuForWorkers(log: (msg: string) => void): Promise<void> {
  if (!isMainThread || active || vulkanDriverEnv()) return;
  const dawn = await loadDawn();
  if (typeof dawn !== 'string') await findAdapter(dawn, true, log);
}

/**
 * Makes tfjs's webgpu backend active, or says why it cannot. Without `allowSoftware` (auto
 * selection) only a real GPU is taken; with it a CPU adapter is accepted (and SwiftShader tried,
 * see findAdapter). Usable in any thread; side effects (globals, navigator.gpu) happen only once
 * an adapter is taken.
 */
export async function activateNodeWebgpu({ allowSoftware, log }: WebgpuOptions): Promise<WebgpuActivation> {
  if (active) {
    if (active.software && !allowSoftware) return { ok: false, reason: `the adapter in use is ${active.adapter}, not a real GPU (${active.software})` };
    return (await tf.setBackend('webgpu')) ? { ok: true, ...active } : { ok: false, reason: 'tfjs could not switch back to webgpu' };
  }
  if (!allowSoftware && process.platform === 'linux' && !hasVulkanDriverManifest()) {
    return { ok: false, reason: 'no Vulkan driver is installed (no manifest in vulkan/icd.d, no VK_ICD_FILENAMES)' };
  }
  const dawn = await loadDawn();
  if (typeof dawn === 'string') return { ok: false, reason: dawn };
  const { gpu, adapter } = await findAdapter(dawn, allowSoftware, log);
  if (!adapter) return { ok: false, reason: noAdapterReason(allowSoftware) };

  const info: AdapterInfoLike = { ...pickInfo(adapter.info), isFallbackAdapter: adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter };
  const name = describeAdapter(info);
  const kind = classifyAdapter(info);
  const software = kind.kind === 'gpu' ? null : kind.reason;
  if (software && !allowSoftware) return { ok: false, reason: `adapter ${name} is not a real GPU: ${software} (pass --backend webgpu to use it anyway)` };

  installNavigatorGpu(dawn, tfjsFacingGpu(gpu));
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.engine().registryFactory.webgpu) {
    return { ok: false, reason: '@tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed, so it did not register; let @splitlora/backend/node load it' };
  }
  if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: `tfjs could not initialise webgpu on adapter ${name} (see the warning above)` };
  active = { adapter: name, software };
  return { ok: true, ...active };
}

// GPUAdapterInfo's fields are getters on its prototype; copy them into a plain object.
function pickInfo(info: AdapterInfoLike | undefined): AdapterInfoLike {
  if (!info) return {};
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
}
