import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { centreCrop, weightedSoftmaxCrossEntropy } from '../src/loss/cross-entropy.js';
import { assertClose } from './helpers.js';

before(async () => {
  await initBackend();
});

// A 2x2 output, 2 classes. Per pixel: logits, label, weight, and -log softmax[label] by hand.
//   (0,0) [0, 0]      label 0 w 1    -log(1/2)            = ln 2
//   (0,1) [0, ln 3]   label 1 w 2    -log(3/4)            = ln 4 - ln 3
//   (1,0) [ln 4, 0]   label 1 w 0.5  -log(1/5)            = ln 5
//   (1,1) [2, -1]     label 0 w 3    -log(e^2/(e^2+e^-1)) = ln(1 + e^-3)
const LOGITS = [0, 0, 0, Math.log(3), Math.log(4), 0, 2, -1];
const LABELS = [0, 1, 1, 0];
const WEIGHTS = [1, 2, 0.5, 3];
const CE = [Math.LN2, Math.log(4) - Math.log(3), Math.log(5), Math.log(1 + Math.exp(-3))];

test('weightedSoftmaxCrossEntropy: equals the hand computation on a 2x2 example with weights', () => {
  const logits = tf.tensor4d(LOGITS, [1, 2, 2, 2]);
  const labels = tf.tensor3d(LABELS, [1, 2, 2], 'int32');
  const weights = tf.tensor3d(WEIGHTS, [1, 2, 2]);
  const expected = (1 * CE[0]! + 2 * CE[1]! + 0.5 * CE[2]! + 3 * CE[3]!) / 4; // = 0.554748
  assertClose(weightedSoftmaxCrossEntropy(logits, labels, weights).dataSync()[0]!, expected, 1e-6, 'weighted loss');
  assertClose(expected, 0.554748, 1e-6, 'the hand value itself');
  const unweighted = CE.reduce((a, b) => a + b, 0) / 4;
  assertClose(weightedSoftmaxCrossEntropy(logits, labels).dataSync()[0]!, unweighted, 1e-6, 'no weight map = all ones');
});

test('weightedSoftmaxCrossEntropy: labels and weights at input resolution are centre-cropped to the output', () => {
  const logits = tf.tensor4d(LOGITS, [1, 2, 2, 2]);
  // 4x4 maps whose centre 2x2 holds the example; the border holds values that would change the loss.
  const big = (centre: number[], fill: number): number[] => {
    const out = new Array<number>(16).fill(fill);
    out[5] = centre[0]!;
    out[6] = centre[1]!;
    out[9] = centre[2]!;
    out[10] = centre[3]!;
    return out;
  };
  const labels = tf.tensor3d(big(LABELS, 1), [1, 4, 4], 'int32');
  const weights = tf.tensor3d(big(WEIGHTS, 100), [1, 4, 4]);
  const expected = (1 * CE[0]! + 2 * CE[1]! + 0.5 * CE[2]! + 3 * CE[3]!) / 4;
  assertClose(weightedSoftmaxCrossEntropy(logits, labels, weights).dataSync()[0]!, expected, 1e-6, 'cropped loss');
  assert.throws(() => centreCrop(tf.zeros([1, 5, 5]), [2, 2]), /cannot centre-crop 5x5 to 2x2/);
  assert.throws(() => weightedSoftmaxCrossEntropy(logits, tf.zeros([2, 2, 2], 'int32') as tf.Tensor3D), /labels batch 2 does not match logits batch 1/);
});

test('weightedSoftmaxCrossEntropy: averages over the batch too', () => {
  const logits = tf.concat([tf.tensor4d(LOGITS, [1, 2, 2, 2]), tf.zeros([1, 2, 2, 2])]) as tf.Tensor4D;
  const labels = tf.tensor3d([...LABELS, 0, 0, 0, 0], [2, 2, 2], 'int32');
  const expected = (CE.reduce((a, b) => a + b, 0) + 4 * Math.LN2) / 8;
  assertClose(weightedSoftmaxCrossEntropy(logits, labels).dataSync()[0]!, expected, 1e-6, 'batch of 2');
});
