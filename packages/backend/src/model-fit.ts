// Can a browser backend hold the client model? WebGL keeps each tensor in a texture whose sides
// are at most WEBGL_MAX_TEXTURE_SIZE; GPT-2's 50257×768 embedding needs a 6213×6213 texture
// (tfjs squarifies shapes that are too long), which many phones (4096) cannot make. WebGPU keeps
// tensors in buffers, bounded by maxStorageBufferBindingSize. Pure functions, so they are tested
// in Node against tfjs's own layout rule; the page feeds them the real limits.

/** The parts of a GPT-2 config that size the client's tensors. */
export interface ModelShape {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
}

export interface FitResult {
  fits: boolean;
  /** The first tensor that does not fit (or the largest one, when all fit). */
  tensor: string;
  shape: number[];
  /** WebGL: the texture that tensor needs, [rows, cols] texels. WebGPU: [bytes]. */
  needs: number[];
  limit: number;
  /** One line for the page and the hello's backend field; null when it fits. */
  reason: string | null;
}

/** The frozen tensors of a client part (every block has the same shapes). */
export function clientTensorShapes(m: ModelShape): [string, number[]][] {
  const d = m.nEmbd;
  return [
    ['wte', [m.vocabSize, d]],
    ['wpe', [m.nPositions, d]],
    ['mlp.c_fc', [d, 4 * d]],
    ['mlp.c_proj', [4 * d, d]],
    ['attn.c_attn', [d, 3 * d]],
    ['mlp.c_fc.bias', [4 * d]],
  ];
}

const even = (n: number) => n + (n % 2);

function squarish(size: number): [number, number] {
  const w = Math.ceil(Math.sqrt(size));
  return [w, Math.ceil(size / w)];
}

/**
 * The texture tfjs-backend-webgl 4.x allocates for a 1-D or 2-D tensor, in texels [rows, cols]:
 * getTextureShapeFromLogicalShape (a side over the limit makes it squarish), then for packed
 * textures 2×2 values per texel.
 */
export function webglTextureShape(shape: readonly number[], maxTextureSize: number, packed: boolean): [number, number] {
  if (shape.length < 1 || shape.length > 2) throw new Error(`webglTextureShape: only 1-D and 2-D shapes, got [${shape.join(', ')}]`);
  // tfjs's default flags: WEBGL_MAX_SIZE_FOR_NARROW_TEXTURE Infinity, no auto-squarify of narrow shapes.
  const max = packed ? 2 * maxTextureSize : maxTextureSize;
  let logical = [...shape];
  if (packed) {
    logical = logical.map((n) => even(n));
    if (logical.length === 1) logical = [2, logical[0]];
  }
  const size = logical.reduce((a, b) => a * b, 1);
  let tex: [number, number] | null = null;
  if (logical.length === 1 && size <= max) tex = [1, size];
  else if (logical.length === 2 && logical[0] <= max && logical[1] <= max) tex = [logical[0], logical[1]];
  if (tex === null) {
    if (packed) {
      const [r, c] = logical.length === 1 ? [2, logical[0]] : logical;
      tex = squarish((r / 2) * (c / 2)).map((n) => n * 2) as [number, number];
    } else {
      tex = squarish(size);
    }
  }
  return packed ? [Math.ceil(tex[0] / 2), Math.ceil(tex[1] / 2)] : tex;
}

/** Whether every client tensor's WebGL texture, packed and unpacked, fits `maxTextureSize`. */
export function checkWebglFit(m: ModelShape, maxTextureSize: number): FitResult {
  let largest: FitResult | null = null;
  for (const [tensor, shape] of clientTensorShapes(m)) {
    for (const packed of [false, true]) {
      const needs = webglTextureShape(shape, maxTextureSize, packed);
      const fits = needs[0] <= maxTextureSize && needs[1] <= maxTextureSize;
      if (!fits) {
        return { fits, tensor, shape, needs, limit: maxTextureSize, reason: `webgl cannot hold ${tensor} [${shape.join('×')}]: it needs a ${needs[0]}×${needs[1]} texture, the limit is ${maxTextureSize}` };
      }
      if (!largest || needs[0] * needs[1] > largest.needs[0] * largest.needs[1]) largest = { fits, tensor, shape, needs, limit: maxTextureSize, reason: null };
    }
  }
  return largest!;
}

/** Whether the largest client tensor (F32) fits one WebGPU storage buffer. */
export function checkWebgpuFit(m: ModelShape, maxStorageBufferBindingSize: number): FitResult {
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const [tensor, shape] = clientTensorShapes(m).reduce((a, b) => (numel(b[1]) > numel(a[1]) ? b : a));
  const bytes = 4 * numel(shape);
  const fits = bytes <= maxStorageBufferBindingSize;
  return {
    fits, tensor, shape, needs: [bytes], limit: maxStorageBufferBindingSize,
    reason: fits ? null : `webgpu cannot hold ${tensor} [${shape.join('×')}]: ${bytes} bytes in one buffer, the limit is ${maxStorageBufferBindingSize}`,
  };
}
