/**
 * The skip connection's crop as one slice (src/model/crop.ts): the same values and gradients as
 * tfjs-layers' Cropping2D, one Slice kernel forward instead of two, applied to every built U-Net.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { cropInOneSlice } from '../src/model/crop.js';
import { buildUNet } from '../src/model/unet.js';
import { Rng } from '../src/util/rng.js';

await initBackend('cpu');

function cropModel(cropping: [[number, number], [number, number]]): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 11, 3] });
  const out = tfl.layers.cropping2D({ cropping }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

test('cropInOneSlice: the values and gradients of Cropping2D (symmetric and not), with one Slice kernel instead of two', async () => {
  const rng = new Rng(4);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 9 * 11 * 3 }, () => rng.normal()), [2, 9, 11, 3]);
  for (const cropping of [[[2, 2], [2, 2]], [[1, 3], [0, 2]]] as [[number, number], [number, number]][]) {
    const plain = cropModel(cropping);
    const fast = cropModel(cropping);
    assert.equal(cropInOneSlice(fast), 1, 'one Cropping2D layer changed');
    const want = plain.apply(x) as tf.Tensor;
    const got = fast.apply(x) as tf.Tensor;
    assert.deepEqual(got.shape, want.shape, `cropping ${JSON.stringify(cropping)}: shape`);
    assert.deepEqual([...got.dataSync()], [...want.dataSync()], `cropping ${JSON.stringify(cropping)}: values`);
    const dy = tf.tensor(Float32Array.from({ length: want.size }, () => rng.normal()), want.shape);
    const gradOf = (m: tfl.LayersModel): Float32Array => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(m.apply(t) as tf.Tensor, dy)))(x).dataSync() as Float32Array;
    assert.deepEqual([...gradOf(fast)], [...gradOf(plain)], `cropping ${JSON.stringify(cropping)}: gradient`);
    const slices = async (m: tfl.LayersModel): Promise<number> => (await tf.profile(() => m.apply(x) as tf.Tensor)).kernels.filter((k) => k.name === 'Slice').length;
    assert.equal(await slices(plain), 2, 'tfjs-layers crops height and width by two slices');
    assert.equal(await slices(fast), 1, 'cropInOneSlice crops by one slice');
  }
});

test('buildUNet crops every skip map in one slice', async () => {
  const model = buildUNet({ depth: 2, baseFilters: 2 }, 60);
  const x = tf.zeros([1, 60, 60, 1]);
  const kernels = (await tf.profile(() => model.apply(x) as tf.Tensor)).kernels.map((k) => k.name);
  assert.equal(kernels.filter((k) => k === 'Slice').length, 2, `two crops (depth 2), one Slice each; kernels: ${kernels.join(', ')}`);
});
