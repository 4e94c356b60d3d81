// @splitlora/backend: the one place that picks a tfjs backend, on each side (webgpu → webgl →
// wasm → cpu), by probing a matmul and falling back in order.
// Import "@splitlora/backend/node" or "@splitlora/backend/browser"; the root export holds only names.
export const BACKEND_ORDER = {
  node: ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'],
  browser: ['webgpu', 'webgl', 'wasm', 'cpu'],
} as const;
