/**
 * The training fast path against plain TF.js, on every backend: the fused
 * convolution + bias + ReLU op, the ReLU-gradient, filter-and-bias-gradient and softmax cross-entropy kernels,
 * and the lean backward pass (bit-identical gradients, lower peak memory).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { oneDnnLoadError, registerOneDnnBackend } from '../src/backend/onednn.js';
import { SOFTMAX_CE_KERNEL, weightedSoftmaxCrossEntropy } from '../src/loss/cross-entropy.js';
import { CONV_FILTER_BIAS_GRAD_KERNEL, conv2dBiasRelu, RELU_GRAD_KERNEL } from '../src/model/fused-conv.js';
import { initializeWeights } from '../src/model/init.js';
import { buildUNet } from '../src/model/unet.js';
import { installLeanBackprop, setLeanBackprop } from '../src/train/lean-backprop.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, skipUnless } from './helpers.js';

await initBackend('cpu');
// Both variants are always registered: without the addon the 'onednn' ones are skipped with the reason.
const native = registerOneDnnBackend();
const backends = ['cpu', 'onednn'] as const;

const random = (shape: number[], seed: number, scale = 1): tf.Tensor => {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal(0, scale)), shape);
};

for (const backend of backends) {
  const skip = backend === 'onednn' ? skipUnless(native ? false : `oneDNN addon not built (${oneDnnLoadError()}): the '${backend}' variant cannot run`) : false;
  describe(`fused training kernels on '${backend}'`, () => {
    test('conv2dBiasRelu: value and gradients match conv2d + add + relu (valid and same)', { skip }, async () => {
      await tf.setBackend(backend);
      for (const pad of ['valid', 'same'] as const) {
        tf.tidy(() => {
          const x = random([2, 9, 7, 3], 1);
          const w = random([3, 3, 3, 5], 2, 0.3);
          const b = random([5], 3, 0.1);
          const dy = random(pad === 'valid' ? [2, 7, 5, 5] : [2, 9, 7, 5], 4);
          const fused = tf.grads((a, k, c) => tf.sum(tf.mul(conv2dBiasRelu(a as tf.Tensor4D, k as tf.Tensor4D, c as tf.Tensor1D, pad), dy)));
          const plain = tf.grads((a, k, c) => tf.sum(tf.mul(tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, pad), c)), dy)));
          const want = [tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, pad), b)), ...plain([x, w, b])];
          const got = [conv2dBiasRelu(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D, pad), ...fused([x, w, b])];
          ['value', 'dx', 'dw', 'db'].forEach((name, i) => {
            const err = maxAbsDiff(got[i]!.dataSync(), want[i]!.dataSync());
            assert.ok(err < 1e-4, `conv2dBiasRelu (${pad}) ${name}: max error ${err}`);
          });
        });
      }
    });

    test(`${CONV_FILTER_BIAS_GRAD_KERNEL}: [dw, db] equal Conv2DBackpropFilter and dy summed over N, H, W (JS inputs and the convolution's own layout; 5, 16 and 40 channels)`, { skip }, async () => {
      await tf.setBackend(backend);
      // Only backends with a one-pass kernel register it; elsewhere conv2dBiasRelu's gradient runs the two kernels.
      assert.equal(Boolean(tf.getKernel(CONV_FILTER_BIAS_GRAD_KERNEL, backend)), backend === 'onednn', `${CONV_FILTER_BIAS_GRAD_KERNEL} registered on ${backend}`);
      if (backend !== 'onednn') return;
      for (const c of [5, 16, 40]) {
        tf.tidy(() => {
          const x = random([2, 12, 11, c], 20 + c);
          const w = random([3, 3, c, c], 21 + c, 0.2);
          // A convolution's output: on a native backend it is held in the layout oneDNN chose.
          const dyNative = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid');
          const dyJs = tf.tensor(dyNative.dataSync(), dyNative.shape);
          const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], filterShape: [3, 3, c, c] } as unknown as tf.NamedAttrMap;
          for (const [inputs, what] of [[{ x, dy: dyNative }, 'native dy'], [{ x: tf.tensor(x.dataSync(), x.shape), dy: dyJs }, 'JS inputs']] as const) {
            const [dw, db] = tf.engine().runKernel(CONV_FILTER_BIAS_GRAD_KERNEL, inputs, attrs) as tf.Tensor[];
            const wantDw = tf.engine().runKernel('Conv2DBackpropFilter', inputs, attrs) as tf.Tensor;
            assert.deepEqual(dw!.shape, [3, 3, c, c]);
            assert.deepEqual(db!.shape, [c]);
            const errW = maxAbsDiff(dw!.dataSync(), wantDw.dataSync());
            const errB = maxAbsDiff(db!.dataSync(), tf.sum(dyJs, [0, 1, 2]).dataSync());
            assert.ok(errW < 1e-4, `${CONV_FILTER_BIAS_GRAD_KERNEL} (${c} channels, ${what}) dw: max error ${errW}`);
            assert.ok(errB < 1e-4, `${CONV_FILTER_BIAS_GRAD_KERNEL} (${c} channels, ${what}) db: max error ${errB}`);
          }
        });
      }
    });

    test(`${RELU_GRAD_KERNEL}: dy where y > 0, else 0, NaN in y propagating`, { skip }, async () => {
      await tf.setBackend(backend);
      tf.tidy(() => {
        const y = tf.relu(random([1, 4, 5, 3], 5));
        const yv = y.dataSync().slice();
        yv[7] = NaN;
        const yn = tf.tensor(yv, y.shape);
        const dy = random([1, 4, 5, 3], 6);
        const got = (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, y: yn }) as tf.Tensor).dataSync();
        const d = dy.dataSync();
        for (let i = 0; i < got.length; i++) {
          const want = yv[i]! > 0 ? d[i]! : Number.isNaN(yv[i]!) ? NaN : 0;
          assert.ok(Object.is(got[i], want) || got[i] === want, `${RELU_GRAD_KERNEL} at ${i}: y ${yv[i]}, dy ${d[i]} -> ${got[i]}, want ${want}`);
        }
      });
    });

    test(`${SOFTMAX_CE_KERNEL}: loss and gradient match the composed TF.js ops, labels out of range count 0`, { skip }, async () => {
      await tf.setBackend(backend);
      tf.tidy(() => {
        const logits = random([2, 5, 4, 3], 7, 2) as tf.Tensor4D;
        const rng = new Rng(8);
        const labelValues = Int32Array.from({ length: 40 }, () => rng.int(0, 2));
        labelValues[3] = 3; // outside [0, K): oneHot gives a zero row
        const labels = tf.tensor3d(labelValues, [2, 5, 4], 'int32');
        const weights = tf.abs(random([2, 5, 4], 9)) as tf.Tensor3D;
        const composed = (x: tf.Tensor): tf.Scalar =>
          tf.mean(tf.mul(tf.neg(tf.sum(tf.mul(tf.oneHot(tf.reshape(labels, [-1]), 3), tf.logSoftmax(tf.reshape(x, [-1, 3]))), -1)), tf.reshape(weights, [-1])));
        const fusedLoss = (x: tf.Tensor): tf.Scalar => weightedSoftmaxCrossEntropy(x as tf.Tensor4D, labels, weights);
        assert.ok(tf.getKernel(SOFTMAX_CE_KERNEL, backend), `${SOFTMAX_CE_KERNEL} is registered on ${backend}`);
        const lossErr = Math.abs(fusedLoss(logits).dataSync()[0]! - composed(logits).dataSync()[0]!);
        assert.ok(lossErr < 1e-6, `${SOFTMAX_CE_KERNEL}: loss differs by ${lossErr}`);
        const gradErr = maxAbsDiff(tf.grad(fusedLoss)(logits).dataSync(), tf.grad(composed)(logits).dataSync());
        assert.ok(gradErr < 1e-7, `${SOFTMAX_CE_KERNEL}: gradient differs by ${gradErr}`);
      });
    });

    test(`${SOFTMAX_CE_KERNEL}, two classes (its unrolled loop): bit for bit the general loop, which a third class at -Infinity leaves unchanged`, { skip }, async () => {
      await tf.setBackend(backend);
      tf.tidy(() => {
        const two = random([2, 6, 5, 2], 11, 3) as tf.Tensor4D;
        const three = tf.concat([two, tf.fill([2, 6, 5, 1], -Infinity)], 3) as tf.Tensor4D;
        const rng = new Rng(12);
        const labelValues = Int32Array.from({ length: 60 }, () => rng.int(0, 1));
        labelValues[7] = 2; // outside [0, 2) for two classes: no loss and no gradient; class 2 of three
        labelValues[8] = -1;
        const labels = tf.tensor3d(labelValues, [2, 6, 5], 'int32');
        const twoLabels = tf.tensor3d(labelValues.map((v) => (v === 2 ? -1 : v)), [2, 6, 5], 'int32');
        const weights = tf.abs(random([2, 6, 5], 13)) as tf.Tensor3D;
        const [loss2, grad2] = tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits: two, labels: twoLabels, weights }) as tf.Tensor[];
        const [loss3, grad3] = tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits: three, labels: tf.where(tf.equal(labels, 2), tf.fill([2, 6, 5], -1, 'int32'), labels), weights }) as tf.Tensor[];
        assert.ok(Object.is(loss2!.dataSync()[0], loss3!.dataSync()[0]), `${SOFTMAX_CE_KERNEL}: two-class loss ${loss2!.dataSync()[0]}, general loop ${loss3!.dataSync()[0]}`);
        const g2 = grad2!.dataSync();
        const g3 = tf.slice(grad3!, [0, 0, 0, 0], [-1, -1, -1, 2]).dataSync();
        for (let i = 0; i < g2.length; i++) assert.ok(Object.is(g2[i], g3[i]), `${SOFTMAX_CE_KERNEL}: two-class gradient ${i} is ${g2[i]}, general loop ${g3[i]}`);
        assert.equal(g2[14], 0, `${SOFTMAX_CE_KERNEL}: a label outside [0, 2) gets no gradient`);
        const composed = tf.mean(tf.mul(tf.neg(tf.sum(tf.mul(tf.oneHot(tf.reshape(twoLabels, [-1]), 2), tf.logSoftmax(tf.reshape(two, [-1, 2]))), -1)), tf.reshape(weights, [-1])));
        const lossErr = Math.abs(loss2!.dataSync()[0]! - composed.dataSync()[0]!);
        assert.ok(lossErr < 1e-6, `${SOFTMAX_CE_KERNEL}: two-class loss differs from the composed ops by ${lossErr}`);
      });
    });

    test('lean backward pass: bit-identical gradients of a small U-Net, lower peak memory', { skip }, async () => {
      await tf.setBackend(backend);
      installLeanBackprop();
      const model = buildUNet({ depth: 2, baseFilters: 4, dropout: 0 }, 44);
      initializeWeights(model, new Rng(3));
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const x = random([1, 44, 44, 1], 10) as tf.Tensor4D;
      const y = tf.tensor3d(Int32Array.from({ length: 44 * 44 }, (_, i) => (i * 7) % 2), [1, 44, 44], 'int32');
      const run = async (lean: boolean): Promise<{ grads: Float32Array[]; peak: number }> => {
        setLeanBackprop(lean);
        let grads: Float32Array[] = [];
        const info = await tf.profile(() => {
          const g = tf.variableGrads(() => weightedSoftmaxCrossEntropy(model.apply(x, { training: true }) as tf.Tensor4D, y), vars);
          grads = vars.map((v) => g.grads[v.name]!.dataSync().slice() as Float32Array);
          tf.dispose([g.value, ...Object.values(g.grads)]);
        });
        return { grads, peak: info.peakBytes };
      };
      try {
        const tfjs = await run(false);
        const before = tf.memory().numTensors;
        const lean = await run(true);
        assert.equal(tf.memory().numTensors, before, 'lean backward pass: tensors left behind');
        tfjs.grads.forEach((g, i) => {
          const at = g.findIndex((v, k) => !Object.is(v, lean.grads[i]![k]));
          assert.equal(at, -1, `lean backward pass: gradient of ${vars[i]!.name} differs at ${at}`);
        });
        assert.ok(lean.peak < 0.8 * tfjs.peak, `lean backward pass: peak ${lean.peak} bytes, TF.js' ${tfjs.peak}`);
      } finally {
        setLeanBackprop(true);
        tf.dispose([x, y]);
        model.dispose();
      }
    });
  });
}
