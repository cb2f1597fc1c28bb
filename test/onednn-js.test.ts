/**
 * JS-side bugs of the onednn backend found by tfjs-core's op suite (test/tfjs-core-ops.test.ts),
 * each against the CPU backend on the same inputs: float32 tensors backed by a Uint8Array or
 * Int32Array (TF.js' Cast shares them), max-pool windows lying wholly in the padding, and the
 * data-id count TF.js' kernel leak check reads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { oneDnnLoadError, registerOneDnnBackend, type OneDnnBackend } from '../src/backend/onednn.js';
import { skipUnless } from './helpers.js';

await initBackend('cpu');
const native = registerOneDnnBackend();

/** f() on 'cpu' and on 'onednn', as plain arrays. */
async function onBoth(f: () => tf.Tensor): Promise<[Float32Array, Float32Array]> {
  const out: Float32Array[] = [];
  for (const b of ['cpu', 'onednn']) {
    await tf.setBackend(b);
    out.push(tf.tidy(() => f().dataSync() as Float32Array));
  }
  await tf.setBackend('cpu');
  return [out[0]!, out[1]!];
}

describe('onednn backend, JS side', { skip: skipUnless(native ? false : `the oneDNN addon (${oneDnnLoadError()})`) }, () => {
  test('a native activation times a mask cast from bool (Uint8Array values) equals the CPU result', async () => {
    const [cpu, dnn] = await onBoth(() => {
      const x = tf.conv2d(tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]), tf.ones([1, 1, 1, 3]) as tf.Tensor4D, 1, 'valid');
      const mask = tf.cast(tf.tensor4d([1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1], [2, 2, 2, 3], 'bool'), 'float32');
      const scaled = tf.cast(tf.tensor4d(Array.from({ length: 24 }, (_, i) => i % 5), [2, 2, 2, 3], 'int32'), 'float32');
      const intFilter = tf.cast(tf.ones([1, 1, 3, 3], 'int32'), 'float32') as tf.Tensor4D;
      return tf.concat([tf.mul(x, mask), tf.conv2d(x, intFilter, 1, 'valid'), tf.mul(x, scaled)], 3);
    });
    assert.deepEqual(Array.from(dnn), Array.from(cpu), 'onednn mul/conv2d with int- or bool-backed float32 operands should equal cpu');
  });

  test('max-pool windows wholly in the padding give what TF.js gives (its identity shortcut, -Infinity)', async () => {
    const x = (): tf.Tensor4D => tf.tensor4d(Array.from({ length: 12 }, (_, i) => i + 1), [1, 2, 2, 3]);
    const [cpu1, dnn1] = await onBoth(() => tf.maxPool(x(), 1, 2, 1));
    assert.deepEqual(Array.from(dnn1), Array.from(cpu1), 'maxPool f=1 s=2 pad=1 on [1,2,2,3] (tfjs-core pool_test) should equal cpu');
    const [cpu2, dnn2] = await onBoth(() => tf.maxPool(x(), 2, 3, 2));
    assert.deepEqual(Array.from(dnn2), Array.from(cpu2), 'maxPool f=2 s=3 pad=2 (a window in the padding) should equal cpu');
  });

  test('numDataIds() counts each native tensor once (TF.js kernel leak check)', async () => {
    await tf.setBackend('onednn');
    try {
      const backend = tf.backend() as OneDnnBackend;
      const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
      const w = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
      const before = backend.numDataIds();
      const y = tf.conv2d(x, w, 1, 'valid');
      assert.ok(backend.handleOf(y) !== null, 'conv2d on onednn should give a natively held tensor');
      assert.equal(backend.numDataIds() - before, 1, 'one native output should add one data id');
      y.dispose();
      assert.equal(backend.numDataIds(), before, 'disposing it should give the id back');
      tf.dispose([x, w]);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
