// The WebGL and WebGPU fit checks: the texture layout agrees with tfjs-backend-webgl's own rule,
// and GPT-2's embedding is judged as tfjs would allocate it.
import * as tf from '@tensorflow/tfjs-core';
import { webgl_util } from '@tensorflow/tfjs-backend-webgl';
import { afterAll, describe, expect, it } from 'vitest';
import { checkWebglFit, checkWebgpuFit, webglTextureShape } from './model-fit';

const GPT2 = { vocabSize: 50257, nPositions: 1024, nEmbd: 768 };
const GPT2_XL = { vocabSize: 50257, nPositions: 1024, nEmbd: 1600 };

describe('webglTextureShape', () => {
  const saved = tf.env().getFlags()['WEBGL_MAX_TEXTURE_SIZE'];
  afterAll(() => { if (saved !== undefined) tf.env().set('WEBGL_MAX_TEXTURE_SIZE', saved); });

  it('matches tfjs getTextureShapeFromLogicalShape for long, wide, narrow and odd shapes', () => {
    const shapes = [[50257, 768], [50257, 32], [1024, 768], [768, 3072], [3072, 768], [3072], [2304], [7], [1, 9000], [9000, 1], [5, 3], [4097, 3], [20000, 2]];
    for (const max of [1024, 2048, 4096, 8192, 16384]) {
      tf.env().set('WEBGL_MAX_TEXTURE_SIZE', max);
      for (const shape of shapes) {
        for (const packed of [false, true]) {
          const t = webgl_util.getTextureShapeFromLogicalShape(shape, packed);
          const want = packed ? [Math.ceil(t[0] / 2), Math.ceil(t[1] / 2)] : t;
          expect(webglTextureShape(shape, max, packed), `[${shape}] max ${max} packed ${packed}`).toEqual(want);
        }
      }
    }
  });
});

describe('checkWebglFit', () => {
  it('GPT-2 S needs a 6213×6213 texture for its embedding: fits 8192 and 16384, not 4096', () => {
    expect(checkWebglFit(GPT2, 16384)).toMatchObject({ fits: true, tensor: 'wte', needs: [6213, 6213], reason: null });
    expect(checkWebglFit(GPT2, 8192).fits).toBe(true);
    const small = checkWebglFit(GPT2, 4096);
    expect(small).toMatchObject({ fits: false, tensor: 'wte', shape: [50257, 768], needs: [6213, 6213], limit: 4096 });
    expect(small.reason).toBe('webgl cannot hold wte [50257×768]: it needs a 6213×6213 texture, the limit is 4096');
  });

  it('GPT-2 XL (d=1600) does not fit 8192', () => {
    expect(checkWebglFit(GPT2_XL, 8192)).toMatchObject({ fits: false, tensor: 'wte', needs: [8968, 8967] });
    expect(checkWebglFit(GPT2_XL, 16384).fits).toBe(true);
  });
});

describe('checkWebgpuFit', () => {
  it('GPT-2 S embedding is 154 MB: more than WebGPU\'s default 128 MiB binding, within 2 GiB', () => {
    expect(checkWebgpuFit(GPT2, 2 ** 27)).toMatchObject({ fits: false, tensor: 'wte', needs: [50257 * 768 * 4] });
    expect(checkWebgpuFit(GPT2, 2 ** 31).fits).toBe(true);
  });
});
