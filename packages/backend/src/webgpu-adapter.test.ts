import { describe, expect, it } from 'vitest';
import { classifyAdapter, describeAdapter, type AdapterInfoLike } from './webgpu-adapter';

// Adapter infos as Dawn and browsers report them.
const swiftshader: AdapterInfoLike = { vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true };
const gpus: Record<string, AdapterInfoLike> = {
  'NVIDIA H200': { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false },
  'AMD Radeon': { vendor: 'amd', architecture: 'rdna-3', device: '', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' },
  'Intel Arc': { vendor: 'intel', architecture: 'xe-hpg', description: 'Intel(R) Arc(tm) A770 Graphics (DG2)' },
  'Apple M2': { vendor: 'apple', architecture: 'metal-3' },
};

describe('classifyAdapter', () => {
  it('takes real GPUs', () => {
    for (const [name, info] of Object.entries(gpus)) expect(classifyAdapter(info), name).toEqual({ kind: 'gpu' });
  });

  it('rejects SwiftShader by its name, even without isFallbackAdapter', () => {
    expect(classifyAdapter(swiftshader)).toEqual({ kind: 'cpu', reason: 'it is SwiftShader, a CPU emulator' });
    expect(classifyAdapter({ ...swiftshader, isFallbackAdapter: undefined }).kind).toBe('cpu');
    expect(classifyAdapter({ vendor: 'google', architecture: '', description: 'SwiftShader Device (Subzero)' }).kind).toBe('cpu');
  });

  it('rejects Mesa llvmpipe/lavapipe, softpipe, WARP and mock drivers', () => {
    const software: AdapterInfoLike[] = [
      { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
      { vendor: 'mesa', device: 'lavapipe' },
      { vendor: 'mesa', description: 'softpipe' },
      { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' },
      { vendor: 'khronos', description: 'Vulkan Mock Device' },
    ];
    for (const info of software) expect(classifyAdapter(info).kind, JSON.stringify(info)).toBe('cpu');
  });

  it('rejects any adapter whose info says CPU, and any fallback adapter', () => {
    expect(classifyAdapter({ vendor: 'acme', architecture: 'cpu', description: 'Acme rasteriser' }).kind).toBe('cpu');
    expect(classifyAdapter({ vendor: 'acme', description: 'Acme CPU device' }).kind).toBe('cpu');
    expect(classifyAdapter({ vendor: 'acme', description: 'Acme renderer', isFallbackAdapter: true })).toEqual({ kind: 'cpu', reason: 'it is a fallback adapter (isFallbackAdapter), which WebGPU runs in software' });
  });

  it('does not trust an adapter that names nothing', () => {
    expect(classifyAdapter({}).kind).toBe('unknown');
    expect(classifyAdapter({ vendor: ' ', architecture: '', device: '', description: '' }).kind).toBe('unknown');
  });
});

describe('describeAdapter', () => {
  it('names vendor, architecture and description for the log', () => {
    expect(describeAdapter(gpus['NVIDIA H200'])).toBe('vendor nvidia, architecture hopper, "NVIDIA H200"');
    expect(describeAdapter(swiftshader)).toBe('vendor google, architecture swiftshader, "SwiftShader driver 5.0.0"');
    expect(describeAdapter({ vendor: 'apple' })).toBe('vendor apple');
    expect(describeAdapter({ device: 'dev-1' })).toBe('device dev-1');
    expect(describeAdapter({})).toBe('an adapter that reports no name');
  });
});
