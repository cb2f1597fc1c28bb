/**
 * The CPU backend's Conv2DBackpropFilter as unet-ts registers it (src/backend/cpu-kernels.ts)
 * against TF.js' own kernel, kept from the registry before it was replaced: random shapes,
 * paddings, strides and batches; NaN and infinities in dy; the cases it hands to TF.js.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { conv2DBackpropFilterNHWC, tfjsConv2DBackpropFilter } from '../src/backend/cpu-kernels.js';
import { Rng } from '../src/util/rng.js';

await initBackend('cpu');

type Pad = 'valid' | 'same' | number;
interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

/** A random small NHWC convolution whose output is not empty. */
function randomCase(rng: Rng): Case {
  for (;;) {
    const pads: Pad[] = ['valid', 'same', 1];
    const c: Case = {
      x: [rng.int(1, 3), rng.int(1, 9), rng.int(1, 9), rng.int(1, 4)],
      filter: [rng.int(1, 3), rng.int(1, 3), 0, rng.int(1, 5)],
      strides: [rng.int(1, 2), rng.int(1, 2)],
      pad: pads[rng.int(0, pads.length - 1)]!,
    };
    c.filter[2] = c.x[3];
    const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
    if (info.outHeight > 0 && info.outWidth > 0) return c;
  }
}

function values(n: number, rng: Rng, zeros = 0): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.uniform() < zeros ? 0 : rng.normal()));
}

/** [fast kernel as registered, TF.js' own] on the same inputs. */
function both(c: Case, xv: Float32Array, dyv: Float32Array, dataFormat: 'NHWC' | 'NCHW' = 'NHWC'): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
    const x = tf.tensor(xv, dataFormat === 'NHWC' ? c.x : [c.x[0], c.x[3], c.x[1], c.x[2]]);
    const dy = tf.tensor(dyv, dataFormat === 'NHWC' ? info.outShape : [info.outShape[0], info.outShape[3], info.outShape[1], info.outShape[2]]);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat, dimRoundingMode: undefined, filterShape: c.filter } as unknown as tf.NamedAttrMap;
    const fast = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor;
    const ref = tfjsConv2DBackpropFilter()({ inputs: { x, dy }, backend: tf.backend(), attrs });
    const refT = tf.engine().makeTensorFromTensorInfo(ref as tf.TensorInfo);
    assert.deepEqual(fast.shape, c.filter, `Conv2DBackpropFilter: dW shape for ${JSON.stringify(c)}`);
    return [fast.dataSync() as Float32Array, refT.dataSync() as Float32Array];
  });
}

/** Asserts |fast - ref| <= 1e-5 * (1 + sum of |x * dy| bound) elementwise, NaN where TF.js has NaN, same infinities. */
function assertClose(fast: Float32Array, ref: Float32Array, what: string): void {
  assert.equal(fast.length, ref.length, `${what}: ${fast.length} values, TF.js has ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    const a = fast[i]!;
    const b = ref[i]!;
    if (Number.isNaN(b) || !Number.isFinite(b)) {
      assert.ok(Object.is(a, b), `${what}: dW[${i}] is ${a}, TF.js' kernel gives ${b}`);
      continue;
    }
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: dW[${i}] is ${a}, TF.js' kernel gives ${b} (float32 tolerance 1e-5 relative)`);
  }
}

describe('CPU Conv2DBackpropFilter (cpu-kernels.ts) against TF.js 4.22.0 kernel', () => {
  test('the fast kernel is what the cpu backend runs, and TF.js kernel is kept apart from it', () => {
    const registered = tf.getKernel('Conv2DBackpropFilter', 'cpu');
    assert.equal(registered?.kernelFunc, conv2DBackpropFilterNHWC, 'Conv2DBackpropFilter on cpu should be unet-ts fast kernel');
    assert.equal(typeof tfjsConv2DBackpropFilter(), 'function');
    assert.notEqual(tfjsConv2DBackpropFilter(), conv2DBackpropFilterNHWC, 'the kept reference must be TF.js own kernel');
  });

  test('60 random shapes (valid, same, pad 1; strides 1-2; batch 1-3; zeros in x) match within float32 tolerance', () => {
    const rng = new Rng(20261201);
    const seen = { valid: 0, same: 0, explicit: 0, strided: 0, batched: 0 };
    for (let k = 0; k < 60; k++) {
      const c = randomCase(rng);
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const xv = values(c.x.reduce((a, b) => a * b, 1), rng, 0.3);
      const dyv = values(info.outShape.reduce((a, b) => a * b, 1), rng);
      const [fast, ref] = both(c, xv, dyv);
      assertClose(fast, ref, `case ${k} ${JSON.stringify(c)}`);
      seen[typeof c.pad === 'number' ? 'explicit' : c.pad]++;
      if (c.strides.some((s) => s > 1)) seen.strided++;
      if (c.x[0] > 1) seen.batched++;
    }
    for (const [kind, n] of Object.entries(seen)) assert.ok(n >= 5, `random cases should include >= 5 of kind '${kind}', got ${n}`);
  });

  test('NaN, +Infinity and -Infinity in dy reach dW as in TF.js kernel (also through x == 0)', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 20; k++) {
      const c = randomCase(rng);
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const xv = values(c.x.reduce((a, b) => a * b, 1), rng, 0.5);
      const dyv = values(info.outShape.reduce((a, b) => a * b, 1), rng);
      const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][k % 3]!;
      dyv[rng.int(0, dyv.length - 1)] = special;
      const [fast, ref] = both(c, xv, dyv);
      assertClose(fast, ref, `case ${k} dy with ${special} ${JSON.stringify(c)}`);
    }
    // x all zero and one NaN in dy: TF.js gives NaN (0 * NaN) for every filter tap that sees it.
    const c: Case = { x: [1, 3, 3, 2], filter: [2, 2, 2, 2], strides: [1, 1], pad: 'valid' };
    const dyv = new Float32Array(2 * 2 * 2).fill(1);
    dyv[0] = Number.NaN;
    const [fast, ref] = both(c, new Float32Array(18), dyv);
    assert.ok(ref.some(Number.isNaN), 'TF.js kernel should give NaN for 0 * NaN');
    assertClose(fast, ref, 'x all zero, NaN in dy');
  });

  test('NCHW and its shapes run TF.js kernel (same result as calling it directly)', () => {
    const c: Case = { x: [2, 4, 5, 3], filter: [2, 2, 3, 2], strides: [1, 1], pad: 'valid' };
    const rng = new Rng(3);
    const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
    const [fast, ref] = both(c, values(2 * 4 * 5 * 3, rng), values(info.outShape.reduce((a, b) => a * b, 1), rng), 'NCHW');
    assert.deepEqual(Array.from(fast), Array.from(ref), 'NCHW Conv2DBackpropFilter should be TF.js own result exactly');
  });
});
