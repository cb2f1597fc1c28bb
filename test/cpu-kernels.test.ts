/**
 * The CPU backend's Conv2DBackpropFilter as unet-ts registers it (src/backend/cpu-kernels.ts)
 * against TF.js' own kernel, kept from the registry before it was replaced: random shapes,
 * paddings, strides and batches; NaN and infinities in dy; the cases it hands to TF.js. And the
 * Sum, Multiply and GreaterEqual fast paths, bit for bit against TF.js' own kernels.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { conv2DBackpropFilterNHWC, tfjsConv2DBackpropFilter, tfjsCpuKernel } from '../src/backend/cpu-kernels.js';
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

describe('CPU Sum, Multiply and GreaterEqual fast paths (cpu-kernels.ts) against TF.js 4.22.0 kernels', () => {
  /** [registered kernel, TF.js' own] outputs: values, shape, dtype. */
  function compare(name: string, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): void {
    tf.tidy(() => {
      const fast = tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
      const ref = tf.engine().makeTensorFromTensorInfo(tfjsCpuKernel(name)({ inputs, backend: tf.backend(), attrs }) as tf.TensorInfo);
      const what = `${name} of ${Object.values(inputs).map((t) => `[${t.shape}] ${t.dtype}`).join(', ')} ${JSON.stringify(attrs)}`;
      assert.deepEqual(fast.shape, ref.shape, `${what}: shape`);
      assert.equal(fast.dtype, ref.dtype, `${what}: dtype`);
      const [a, b] = [fast.dataSync(), ref.dataSync()];
      for (let i = 0; i < b.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}: value ${i} is ${a[i]}, TF.js' kernel gives ${b[i]}`);
    });
  }
  const rng = new Rng(11);
  const special = (n: number): Float32Array => {
    const v = values(n, rng);
    for (let i = 0; i < n; i += 7) v[i] = [NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38][(i / 7) % 6]!;
    return v;
  };

  test('Sum over every axis but the last (a bias gradient), keepDims or not, is bit for bit TF.js; other reductions are TF.js itself', () => {
    for (const shape of [[1, 228, 228, 2], [2, 5, 3, 7], [4, 3], [1, 1, 1, 5]]) {
      const x = tf.tensor(special(shape.reduce((a, b) => a * b, 1)), shape);
      const lead = shape.slice(0, -1).map((_, i) => i);
      for (const keepDims of [false, true]) compare('Sum', { x }, { axis: lead, keepDims });
      compare('Sum', { x }, { axis: lead.map((a) => a - shape.length), keepDims: false }); // negative axes
      compare('Sum', { x }, { axis: shape.length - 1, keepDims: false }); // the last axis: TF.js' kernel
      compare('Sum', { x }, { axis: shape.map((_, i) => i), keepDims: false }); // everything
      x.dispose();
    }
    const ints = tf.tensor([1, 2, 3, 4], [2, 2], 'int32');
    compare('Sum', { x: ints }, { axis: [0], keepDims: false });
    ints.dispose();
  });

  test('Multiply and GreaterEqual with one single value (either side, scalar or all-ones shape) are bit for bit TF.js; broadcasts of more are TF.js itself', () => {
    const a = tf.tensor(special(2 * 9 * 4 * 3), [2, 9, 4, 3]);
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [a, tf.scalar(0.37)],
      [tf.scalar(-2.5), a],
      [a, tf.tensor([NaN], [1, 1, 1, 1])],
      [a, tf.tensor([0], [1, 1])],
      [tf.tensor([3], [1]), tf.tensor([1, 2, 3], [3])],
      [tf.tensor([3], [1, 1]), tf.tensor([1, 2, 3], [3])], // rank 2 single value: the result is [1, 3]
      [a, tf.tensor(special(3), [3])], // a real broadcast
      [tf.tensor([1, 2], [2], 'int32'), tf.scalar(2, 'int32')],
    ];
    for (const [x, y] of pairs) for (const name of ['Multiply', 'GreaterEqual']) compare(name, { a: x, b: y }, {});
    tf.dispose(pairs.flat());
  });

  test('the fast kernels are what the cpu backend runs', () => {
    for (const name of ['Sum', 'Multiply', 'GreaterEqual']) assert.notEqual(tf.getKernel(name, 'cpu')!.kernelFunc, tfjsCpuKernel(name), `${name}: the registered CPU kernel is still TF.js' own`);
  });
});
