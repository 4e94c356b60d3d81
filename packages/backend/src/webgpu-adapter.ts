// Is a WebGPU adapter a real GPU? Pure functions over GPUAdapterInfo-like objects, so they are
// testable without a GPU and usable on both sides.

/** The fields of GPUAdapterInfo (and the older GPUAdapter.isFallbackAdapter) that tell what an adapter is. */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export type AdapterKind = { kind: 'gpu' } | { kind: 'cpu' | 'unknown'; reason: string };

// Software rasterisers and drivers that compute on the CPU (or not at all), by the names their
// drivers report. Checked against vendor, architecture, device and description.
const SOFTWARE_ADAPTERS: readonly [RegExp, string][] = [
  [/swiftshader|subzero/i, 'SwiftShader, a CPU emulator'],
  [/llvmpipe|lavapipe/i, "Mesa's llvmpipe/lavapipe, a CPU rasteriser"],
  [/softpipe/i, "Mesa's softpipe, a CPU rasteriser"],
  [/microsoft basic render|\bwarp\b/i, 'WARP, a CPU rasteriser'],
  [/\bmock\b|null backend/i, 'a mock driver that computes nothing'],
  [/\bcpu\b/i, 'an adapter that says it is a CPU'],
];

/** Classifies an adapter: a real GPU, a CPU adapter (with the reason), or unknown (it reports nothing). */
export function classifyAdapter(info: AdapterInfoLike): AdapterKind {
  const fields = [info.vendor, info.architecture, info.device, info.description].map((s) => (s ?? '').trim());
  for (const [pattern, what] of SOFTWARE_ADAPTERS) {
    if (fields.some((f) => pattern.test(f))) return { kind: 'cpu', reason: `it is ${what}` };
  }
  if (info.isFallbackAdapter === true) return { kind: 'cpu', reason: 'it is a fallback adapter (isFallbackAdapter), which WebGPU runs in software' };
  if (fields.every((f) => f === '')) return { kind: 'unknown', reason: 'it reports no vendor, architecture, device or description' };
  return { kind: 'gpu' };
}

/** A short name for logs: `vendor nvidia, architecture hopper, "NVIDIA H200"`. */
export function describeAdapter(info: AdapterInfoLike): string {
  const parts = [info.vendor ? `vendor ${info.vendor}` : '', info.architecture ? `architecture ${info.architecture}` : '', info.description ? `"${info.description}"` : info.device ? `device ${info.device}` : ''];
  return parts.filter(Boolean).join(', ') || 'an adapter that reports no name';
}
