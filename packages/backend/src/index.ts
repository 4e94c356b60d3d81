// Import "@splitlora/backend/node" or "@splitlora/backend/browser"; the root export holds only names.
export const BACKEND_ORDER = {
  node: ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'],
  browser: ['webgpu', 'webgl', 'wasm', 'cpu'],
} as const;
